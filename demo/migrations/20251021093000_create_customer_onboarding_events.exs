defmodule Rsolv.Repo.Migrations.CreateCustomerOnboardingEvents do
  use Ecto.Migration

  def change do
    create table(:customer_onboarding_events) do
      add :customer_id, references(:customers, on_delete: :delete_all), null: false
      add :event_type, :string, null: false
      add :status, :string, null: false
      add :metadata, :map, null: false, default: %{}

      timestamps(updated_at: false)
    end

    create index(:customer_onboarding_events, [:customer_id])
  end
end
