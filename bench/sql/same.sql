-- One POST /api/register-client of a new participant, statement by statement, as the app
-- sends it (SQLAlchemy Core on psycopg 3): partner lookup, idempotency claim, registration.
-- Left out: the pool's pre-ping per connection checkout (three per request).
-- :n makes the phone and the idempotency key unique (10^13 values); :digest, :scope,
-- :source and :partner_id come from pgbench -D (pgbench reads ":name" even inside a string
-- literal, so no literal here may hold a colon followed by a letter).
\set n random(1, 9999999999999)

-- authenticate_partner: its own unit of work, read only
BEGIN;
SELECT id, name, key_digest, created_at, revoked_at FROM partners WHERE key_digest = :digest;
ROLLBACK;

-- _claim: the idempotency record, in flight
BEGIN;
SELECT scope, key, fingerprint, created_at, expires_at, state, result_id
  FROM idempotency_records
  WHERE scope = :scope AND key = 'auto:' || encode(sha256(:n::text::bytea), 'hex');
SAVEPOINT sa_savepoint_1;
INSERT INTO idempotency_records (scope, key, fingerprint, created_at, expires_at, state, result_id)
  VALUES (:scope, 'auto:' || encode(sha256(:n::text::bytea), 'hex'), encode(sha256(:n::text::bytea), 'hex'),
          now(), now() + interval '5 minutes', 'in_flight', NULL);
RELEASE SAVEPOINT sa_savepoint_1;
COMMIT;

-- _register: person, client, purchases, the record completed, the audit event
BEGIN;
SELECT id, phone_number, login, first_name, password_hash, must_change_password,
       temporary_password_expires_at, created_at
  FROM persons WHERE phone_number = '+9' || lpad(:n::text, 13, '0');
SAVEPOINT sa_savepoint_1;
INSERT INTO persons (phone_number, login, first_name, password_hash, must_change_password,
                     temporary_password_expires_at, created_at)
  VALUES ('+9' || lpad(:n::text, 13, '0'), '+9' || lpad(:n::text, 13, '0'), 'Иван', NULL, false, NULL, now())
  RETURNING id \gset person_
RELEASE SAVEPOINT sa_savepoint_1;
SELECT id, person_id, registered_at, registered_by, source, full_name, email, channel_accounts
  FROM clients WHERE person_id = :person_id;
SAVEPOINT sa_savepoint_2;
INSERT INTO clients (person_id, registered_at, registered_by, source, full_name, email, channel_accounts)
  VALUES (:person_id, now(), :scope, :source, 'Иванов Иван Иванович', 'ivanov@mail.ru', '{}')
  RETURNING id \gset client_
RELEASE SAVEPOINT sa_savepoint_2;
INSERT INTO purchases (client_id, partner_id, name, price, registered_at)
  VALUES (:client_id, :partner_id, 'Телевизор Samsung', 40000.00, now()) RETURNING id;
INSERT INTO purchases (client_id, partner_id, name, price, registered_at)
  VALUES (:client_id, :partner_id, 'Кабель', 499.99, now()) RETURNING id;
SELECT scope, key, fingerprint, created_at, expires_at, state, result_id
  FROM idempotency_records
  WHERE scope = :scope AND key = 'auto:' || encode(sha256(:n::text::bytea), 'hex');
INSERT INTO idempotency_records (scope, key, fingerprint, created_at, expires_at, state, result_id)
  VALUES (:scope, 'auto:' || encode(sha256(:n::text::bytea), 'hex'), encode(sha256(:n::text::bytea), 'hex'),
          now(), now() + interval '5 minutes', 'completed', :client_id)
  ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, created_at = excluded.created_at,
    expires_at = excluded.expires_at, state = excluded.state, result_id = excluded.result_id;
INSERT INTO audit_events (action, actor, occurred_at, request_id, person_id, client_id, notification_id,
                          masked_phone, details)
  VALUES ('promo_registered', :scope, now(), md5(:n::text), :person_id, :client_id, NULL, '+7911*****67',
          '{"purchases": "2", "email": "i***@mail.ru"}');
COMMIT;
