defmodule Rsolv.Repo.Migrations.CreateCreditTransactions do
  use Ecto.Migration

  def change do
    create table(:credit_transactions) do
      add :customer_id, references(:customers, on_delete: :delete_all), null: false
      add :amount, :integer, null: false
      add :balance_after, :integer, null: false
      add :source, :string, null: false
      add :metadata, :map, null: false, default: %{}

      timestamps()
    end

    create index(:credit_transactions, [:customer_id])
  end
end
