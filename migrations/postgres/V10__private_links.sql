-- One-time links are no longer kept in the mail outbox: a message stores a placeholder where
-- its token goes and the nonce the token is computed from at send time (with the server's
-- key, which is not in the database); the nonce is cleared once the message is sent, logged
-- or given up.
ALTER TABLE mail_outbox ADD COLUMN secret_ref TEXT;

-- Messages written before this version still carry their tokens: their text goes. Those not
-- sent yet are given up (the person asks for a new link).
UPDATE mail_outbox
SET status = CASE WHEN status IN ('pending', 'sending') THEN 'failed' ELSE status END,
    last_error = CASE WHEN status IN ('pending', 'sending')
                      THEN 'withdrawn: one-time links are no longer stored; ask for a new one'
                      ELSE last_error END,
    locked_until = NULL,
    body_text = '(This message held a one-time link. Its text was removed when MarketHub stopped storing such links.)'
WHERE kind IN ('verify_email', 'reset_password');
