defmodule Rsolv.Repo.Migrations.CreateBillingEvents do
  use Ecto.Migration

  def change do
    create table(:billing_events) do
      add :customer_id, references(:customers, on_delete: :nilify_all)
      add :stripe_event_id, :string, null: false
      add :event_type, :string, null: false
      add :amount_cents, :integer
      add :metadata, :map, null: false, default: %{}

      timestamps()
    end

    create unique_index(:billing_events, [:stripe_event_id])
    create index(:billing_events, [:customer_id])
  end
end
