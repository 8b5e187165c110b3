-- Hosts are looked up by name in any case (names enter lower-case; an older release kept
-- them as typed): an index of the lower-cased names, so that the lookup is not a scan.
CREATE INDEX IF NOT EXISTS hosts_lower_name ON hosts (lower(name));
