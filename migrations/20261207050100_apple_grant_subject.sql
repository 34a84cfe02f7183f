-- Sealed Apple grants are bound to their identity (AES-GCM additional data: the app's
-- client id and the Apple subject), so a queued revocation must know the subject to open
-- its token. Rows queued before this have none: they were sealed under the legacy key
-- without additional data and open through the fallback in `providers::apple`.
ALTER TABLE apple_revocations ADD COLUMN subject text;
