defmodule Rsolv.Repo.Migrations.AddKeyHashToApiKeys do
  use Ecto.Migration

  # Only the SHA-256 of a key is kept (hex); the key itself is shown once, at creation.
  def change do
    alter table(:api_keys) do
      add :key_hash, :string, null: false
    end

    create unique_index(:api_keys, [:key_hash])
  end
end
