-- The budget ledger in the database, for deployments without Redis (server/services/budget-ledger-sql.ts):
-- per account (a budget in one period) what settled calls spent and what live holds add up to, and
-- the holds of calls in progress.

-- CreateTable
CREATE TABLE "budget_ledgers" (
    "account" TEXT NOT NULL,
    "spent" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "held" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "touched_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budget_ledgers_pkey" PRIMARY KEY ("account")
);

-- CreateTable
CREATE TABLE "budget_holds" (
    "id" TEXT NOT NULL,
    "account" TEXT NOT NULL,
    "amount" DECIMAL(24,12) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "lapsed" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "budget_holds_pkey" PRIMARY KEY ("id","account")
);

-- CreateIndex
CREATE INDEX "budget_holds_account_expires_at_idx" ON "budget_holds"("account", "expires_at");

-- Holds p_amount on every account, all or none, in one round trip. The accounts come sorted (byte
-- order), and every statement that changes an account or its holds first holds the account row's
-- lock, taken in that order, so two callers take turns and never deadlock. In READ COMMITTED each
-- statement after the lock sees what others committed before it.
-- Outcome ok, or refused (with the index, spent and held of the account that refused), or seed
-- (one row per account the ledger does not know or has forgotten: call again with its seed).
-- Commits do not wait for the WAL to reach the disk (synchronous_commit off, for these
-- transactions only): a crash of PostgreSQL itself may lose the last moments of the ledger, which
-- is a gate in front of the usage events, not a record (those are written with the usual commit).
CREATE FUNCTION budget_reserve(p_hold TEXT, p_accounts TEXT[], p_limits NUMERIC[], p_seeds NUMERIC[], p_amount NUMERIC, p_lease_ms INTEGER, p_idle_ms INTEGER)
RETURNS TABLE (outcome TEXT, account_index INTEGER, account_spent NUMERIC, account_held NUMERIC)
LANGUAGE plpgsql AS $$
DECLARE
  n INTEGER := cardinality(p_accounts);
  idle INTERVAL := p_idle_ms * INTERVAL '1 millisecond';
  i INTEGER;
  v_spent NUMERIC;
  v_held NUMERIC;
  v_touched TIMESTAMPTZ;
  v_lapsed NUMERIC;
  v_spents NUMERIC[] := '{}';
  v_helds NUMERIC[] := '{}';
  v_unknown INTEGER[] := '{}';
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  -- Start an unknown account at its seed, or start again one that sat idle with no live hold. Its
  -- old holds (all lapsed) go with it: their calls are in the usage events the seed came from.
  FOR i IN 1 .. n LOOP
    IF p_seeds[i] IS NOT NULL THEN
      INSERT INTO budget_ledgers AS l (account, spent, held, touched_at) VALUES (p_accounts[i], p_seeds[i], 0, now())
      ON CONFLICT (account) DO UPDATE SET spent = EXCLUDED.spent, held = 0, touched_at = now()
        WHERE l.touched_at < now() - idle
          AND NOT EXISTS (SELECT 1 FROM budget_holds h WHERE h.account = l.account AND NOT h.lapsed AND h.expires_at > now());
      IF FOUND THEN
        DELETE FROM budget_holds h WHERE h.account = p_accounts[i];
      END IF;
    END IF;
  END LOOP;

  FOR i IN 1 .. n LOOP
    SELECT l.spent, l.held, l.touched_at INTO v_spent, v_held, v_touched FROM budget_ledgers l WHERE l.account = p_accounts[i] FOR UPDATE;
    IF NOT FOUND THEN
      v_unknown := v_unknown || i;
      CONTINUE;
    END IF;
    -- Holds whose lease ended stop counting; a settle that still comes adds what its call cost.
    WITH r AS (
      UPDATE budget_holds h SET lapsed = true WHERE h.account = p_accounts[i] AND NOT h.lapsed AND h.expires_at <= now() RETURNING h.amount
    )
    SELECT coalesce(sum(r.amount), 0) INTO v_lapsed FROM r;
    IF v_lapsed > 0 THEN
      v_held := v_held - v_lapsed;
      UPDATE budget_ledgers l SET held = v_held WHERE l.account = p_accounts[i];
    END IF;
    IF v_touched < now() - idle AND v_held <= 0 THEN
      v_unknown := v_unknown || i;
    END IF;
    v_spents := v_spents || v_spent;
    v_helds := v_helds || v_held;
  END LOOP;
  IF cardinality(v_unknown) > 0 THEN
    RETURN QUERY SELECT 'seed'::TEXT, u, NULL::NUMERIC, NULL::NUMERIC FROM unnest(v_unknown) AS u;
    RETURN;
  END IF;

  FOR i IN 1 .. n LOOP
    IF v_spents[i] + v_helds[i] + p_amount > p_limits[i] THEN
      RETURN QUERY SELECT 'refused'::TEXT, i, v_spents[i], v_helds[i];
      RETURN;
    END IF;
  END LOOP;

  INSERT INTO budget_holds (id, account, amount, expires_at)
    SELECT p_hold, a, p_amount, now() + p_lease_ms * INTERVAL '1 millisecond' FROM unnest(p_accounts) AS a;
  UPDATE budget_ledgers l SET held = l.held + p_amount, touched_at = now() WHERE l.account = ANY (p_accounts);
  RETURN QUERY SELECT 'ok'::TEXT, NULL::INTEGER, NULL::NUMERIC, NULL::NUMERIC;
END
$$;

-- Ends a hold: its rows go, its amount is no longer held (unless it had lapsed), and p_actual (what
-- the call cost) is added to each account it was on. A hold already settled (or dropped with its
-- account) changes nothing, so a settle may be repeated. Returns the number of accounts settled.
CREATE FUNCTION budget_settle(p_hold TEXT, p_actual NUMERIC)
RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
  v_count INTEGER;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM budget_ledgers l WHERE l.account IN (SELECT h.account FROM budget_holds h WHERE h.id = p_hold)
    ORDER BY l.account COLLATE "C" FOR UPDATE;
  WITH gone AS (DELETE FROM budget_holds h WHERE h.id = p_hold RETURNING h.account, h.amount, h.lapsed)
  UPDATE budget_ledgers l
    SET spent = l.spent + p_actual, held = l.held - CASE WHEN gone.lapsed THEN 0 ELSE gone.amount END, touched_at = now()
    FROM gone WHERE l.account = gone.account;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;
