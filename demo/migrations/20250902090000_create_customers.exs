defmodule Rsolv.Repo.Migrations.CreateCustomers do
  use Ecto.Migration

  def change do
    create table(:customers) do
      add :name, :string, null: false
      add :email, :string, null: false
      add :active, :boolean, null: false, default: true
      add :metadata, :map, null: false, default: %{}
      add :monthly_limit, :integer, null: false, default: 100
      add :current_usage, :integer, null: false, default: 0
      add :trial_fixes_used, :integer, null: false, default: 0
      add :trial_fixes_limit, :integer, null: false, default: 5
      add :fix_mode, :string, null: false, default: "auto"

      timestamps()
    end

    create unique_index(:customers, [:email])
  end
end
