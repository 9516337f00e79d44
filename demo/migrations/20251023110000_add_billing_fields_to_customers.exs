defmodule Rsolv.Repo.Migrations.AddBillingFieldsToCustomers do
  use Ecto.Migration

  def change do
    alter table(:customers) do
      add :credit_balance, :integer, null: false, default: 0
      add :subscription_type, :string, null: false, default: "trial"
      add :subscription_state, :string
      add :stripe_customer_id, :string
      add :stripe_payment_method_id, :string
      add :stripe_subscription_id, :string
      add :billing_consent_given, :boolean, null: false, default: false
      add :billing_consent_at, :naive_datetime
      add :has_payment_method, :boolean, null: false, default: false
      add :payment_method_added_at, :naive_datetime
    end

    create constraint(:customers, :credit_balance_must_be_non_negative,
             check: "credit_balance >= 0")

    create constraint(:customers, :subscription_type_must_be_known,
             check: "subscription_type IN ('trial', 'pay_as_you_go', 'pro')")
  end
end
