defmodule Rsolv.Repo.Migrations.CreateSubscriptions do
  use Ecto.Migration

  def change do
    create table(:subscriptions) do
      add :customer_id, references(:customers, on_delete: :delete_all), null: false
      add :stripe_subscription_id, :string, null: false
      add :plan, :string, null: false
      add :status, :string, null: false
      add :price, :decimal, precision: 10, scale: 2
      add :current_period_start, :naive_datetime
      add :current_period_end, :naive_datetime
      add :cancel_at_period_end, :boolean, null: false, default: false

      timestamps()
    end

    create unique_index(:subscriptions, [:stripe_subscription_id])
    create index(:subscriptions, [:customer_id])
  end
end
