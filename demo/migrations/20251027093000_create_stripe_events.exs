defmodule Rsolv.Repo.Migrations.CreateStripeEvents do
  use Ecto.Migration

  # The first copy of each Stripe event the webhook endpoint verified; a redelivery of an id
  # already here is acknowledged and changes nothing.
  def change do
    create table(:stripe_events, primary_key: false) do
      add :id, :text, primary_key: true
      add :type, :text, null: false
      add :object_id, :text
      add :smokebot_run, :text
      add :livemode, :boolean, null: false
      add :received_at, :utc_datetime, null: false, default: fragment("now()")
    end
  end
end
