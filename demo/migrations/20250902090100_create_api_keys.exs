defmodule Rsolv.Repo.Migrations.CreateApiKeys do
  use Ecto.Migration

  def change do
    create table(:api_keys) do
      add :customer_id, references(:customers, on_delete: :delete_all), null: false
      add :name, :string, null: false, default: "default"
      add :active, :boolean, null: false, default: true
      add :last_used_at, :naive_datetime

      timestamps()
    end

    create index(:api_keys, [:customer_id])
  end
end
