-- One POST /api/register-client of a new participant, statement by statement, as the app
-- sent it from the first #10 round until the one-statement write (SQLAlchemy Core on
-- psycopg 3): the partner lookup, then one transaction: person and client inserted unless
-- known (ON CONFLICT, no savepoint), both purchases in one statement, the idempotency record
-- inserted unless taken, the audit event written with the commit. Kept as the reference of
-- that shape; the app now sends the key check and one data-modifying CTE
-- (src/adapters/barbershop_adapters/sqlalchemy/promo_sign_up.py), which the minimal script
-- (minimal.sql) is closer to.
-- :n makes the phone and the idempotency key unique (10^13 values); :digest, :scope,
-- :source and :partner_id come from pgbench -D (pgbench reads ":name" even inside a string
-- literal, so no literal here may hold a colon followed by a letter).
\set n random(1, 9999999999999)

-- authenticate_partner: read only
BEGIN;
SELECT id, name, key_digest, created_at, revoked_at FROM partners WHERE key_digest = :digest;
ROLLBACK;

-- register_promo_participant without an Idempotency-Key: one transaction
BEGIN;
INSERT INTO persons (phone_number, login, first_name, password_hash, must_change_password,
                     temporary_password_expires_at, created_at)
  VALUES ('+9' || lpad(:n::text, 13, '0'), '+9' || lpad(:n::text, 13, '0'), 'Иван', NULL, false, NULL, now())
  ON CONFLICT (phone_number) DO NOTHING
  RETURNING id \gset person_
INSERT INTO clients (person_id, registered_at, registered_by, source, full_name, email, channel_accounts)
  VALUES (:person_id, now(), :scope, :source, 'Иванов Иван Иванович', 'ivanov@mail.ru', '{}')
  ON CONFLICT (person_id) DO NOTHING
  RETURNING id \gset client_
INSERT INTO purchases (client_id, partner_id, name, price, registered_at)
  VALUES (:client_id, :partner_id, 'Телевизор Samsung', 40000.00, now()),
         (:client_id, :partner_id, 'Кабель', 499.99, now())
  RETURNING id;
INSERT INTO idempotency_records (scope, key, fingerprint, created_at, expires_at, state, result_id)
  VALUES (:scope, 'auto:' || encode(sha256(:n::text::bytea), 'hex'), encode(sha256(:n::text::bytea), 'hex'),
          now(), now() + interval '5 minutes', 'completed', :client_id)
  ON CONFLICT (scope, key) DO NOTHING
  RETURNING scope;
INSERT INTO audit_events (action, actor, occurred_at, request_id, person_id, client_id, notification_id,
                          masked_phone, details)
  VALUES ('promo_registered', :scope, now(), md5(:n::text), :person_id, :client_id, NULL, '+7911*****67',
          '{"purchases": "2", "email": "i***@mail.ru"}');
COMMIT;
