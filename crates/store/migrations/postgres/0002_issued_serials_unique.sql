-- A certificate this node issued is stored once: two issued entries with one issuer and
-- one serial number are refused by the database, whatever server wrote them.
CREATE UNIQUE INDEX entries_issued_serial ON entries (issuer_sha256, serial)
    WHERE source = 'issued' AND issuer_sha256 IS NOT NULL;
