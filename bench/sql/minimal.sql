-- The same rows as same.sql (person, client, two purchases, idempotency record, audit
-- event) in one transaction, with no read before a write and no savepoint: the least a
-- registration costs the database. Variables as in same.sql.
\set n random(1, 9999999999999)
BEGIN;
INSERT INTO persons (phone_number, login, first_name, password_hash, must_change_password,
                     temporary_password_expires_at, created_at)
  VALUES ('+9' || lpad(:n::text, 13, '0'), '+9' || lpad(:n::text, 13, '0'), 'Иван', NULL, false, NULL, now())
  RETURNING id \gset person_
INSERT INTO clients (person_id, registered_at, registered_by, source, full_name, email, channel_accounts)
  VALUES (:person_id, now(), :scope, :source, 'Иванов Иван Иванович', 'ivanov@mail.ru', '{}')
  RETURNING id \gset client_
INSERT INTO purchases (client_id, partner_id, name, price, registered_at)
  VALUES (:client_id, :partner_id, 'Телевизор Samsung', 40000.00, now()),
         (:client_id, :partner_id, 'Кабель', 499.99, now());
INSERT INTO idempotency_records (scope, key, fingerprint, created_at, expires_at, state, result_id)
  VALUES (:scope, 'auto:' || encode(sha256(:n::text::bytea), 'hex'), encode(sha256(:n::text::bytea), 'hex'),
          now(), now() + interval '5 minutes', 'completed', :client_id);
INSERT INTO audit_events (action, actor, occurred_at, request_id, person_id, client_id, notification_id,
                          masked_phone, details)
  VALUES ('promo_registered', :scope, now(), md5(:n::text), :person_id, :client_id, NULL, '+7911*****67',
          '{"purchases": "2", "email": "i***@mail.ru"}');
COMMIT;
