-- An alert delivery's message as first composed (JSON), sent again unchanged on every retry, so
-- that a retry is byte-identical and keeps its id: a receiver that de-duplicates by
-- `webhook-id` or `Message-ID` sees one alert, however often it was tried.
ALTER TABLE alert_deliveries ADD COLUMN first_composed TEXT;
