#!/usr/bin/env python3
"""Test PKI for .ci/verdict-checks, made with `cryptography` (a tool certherd did not write):
the servers of issue 10's examples. Usage: verdict-pki.py OUT_DIR

Writes, in OUT_DIR:
  root.pem                       the trusted root
  nginx.{crt,key}                expired, named old.example.test, issued by the intermediate
                                 (served without it)
  appliance.{crt,key}            `openssl req -x509` style: CA:TRUE, self-signed, no SAN, 2 days left
  expired.{crt,key}, chain.pem   expired leaf for db.example.test; chain.pem = leaf + intermediate
  good.{crt,key}, goodchain.pem  valid leaf for www.example.test and 127.0.0.25
  backup.{crt,key}               self-signed CA:FALSE appliance for backup.example.test, 127.0.0.24
  nocertsign.crt, nocertsign-ca.pem   a leaf under an intermediate whose keyUsage lacks keyCertSign
  oldroot.pem, underold.crt, underold-ca.pem   a leaf under an intermediate under an expired root
  weak.crt                       a leaf with a 1024-bit RSA key
"""
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = sys.argv[1]
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write(stem, cert, key=None):
    with open(os.path.join(OUT, stem + ".crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        with open(os.path.join(OUT, stem + ".key"), "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        os.chmod(os.path.join(OUT, stem + ".key"), 0o600)


def ca(cn, issuer=None, issuer_key=None, path_len=None, cert_sign=True, expired=False):
    key = ec.generate_private_key(ec.SECP256R1())
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer.subject if issuer else name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 3650 * DAY if expired else NOW - 30 * DAY)
        .not_valid_after(NOW - 10 * DAY if expired else NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            # digitalSignature always; keyCertSign and cRLSign unless told otherwise.
            x509.KeyUsage(not cert_sign, False, False, False, False, cert_sign, cert_sign, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    return b.sign(issuer_key or key, hashes.SHA256()), key


def leaf(names, issuer, issuer_key, not_before, not_after, cn=None, self_signed=False, key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    sans = [
        x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
        for n in names
    ]
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn or names[0]))
        .issuer_name(name(cn or names[0]) if self_signed else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectAlternativeName(sans), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    signer = key if self_signed else issuer_key
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
    )
    return b.sign(signer, hashes.SHA256()), key


root, root_key = ca("Verdict Test Root")
inter, inter_key = ca("Verdict Test Issuing CA", root, root_key, path_len=0)
with open(os.path.join(OUT, "root.pem"), "wb") as f:
    f.write(root.public_bytes(serialization.Encoding.PEM))

# 1. nginx: expired, another name, intermediate not sent.
write("nginx", *leaf(["old.example.test"], inter, inter_key, NOW - 400 * DAY, NOW - 3 * DAY))

# 2. The appliance default: what `openssl req -x509 -subj /CN=wlb.example.test` makes.
app_key = ec.generate_private_key(ec.SECP256R1())
app = (
    x509.CertificateBuilder()
    .subject_name(name("wlb.example.test"))
    .issuer_name(name("wlb.example.test"))
    .public_key(app_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(NOW - DAY)
    .not_valid_after(NOW + 2 * DAY)
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(app_key.public_key()), False)
    .sign(app_key, hashes.SHA256())
)
write("appliance", app, app_key)

# 3. Expired under the trusted root, chain complete.
exp, exp_key = leaf(["db.example.test"], inter, inter_key, NOW - 400 * DAY, NOW - 26 * DAY)
write("expired", exp, exp_key)
with open(os.path.join(OUT, "chain.pem"), "wb") as f:
    f.write(inter.public_bytes(serialization.Encoding.PEM))

# 4. Good: valid, complete.
write("good", *leaf(["www.example.test", "127.0.0.25"], inter, inter_key, NOW - DAY, NOW + 300 * DAY))

# 5. A backup appliance's own self-signed certificate (CA:FALSE), to pin.
write(
    "backup",
    *leaf(
        ["backup.example.test", "127.0.0.24"],
        None,
        None,
        NOW - DAY,
        NOW + 700 * DAY,
        self_signed=True,
    ),
)


def pem(path, *certs):
    with open(os.path.join(OUT, path), "wb") as f:
        for c in certs:
            f.write(c.public_bytes(serialization.Encoding.PEM))


# 6. An intermediate whose keyUsage lacks keyCertSign (openssl: 32 / 79).
bad_ca, bad_ca_key = ca("No CertSign CA", root, root_key, path_len=0, cert_sign=False)
pem("nocertsign-ca.pem", bad_ca)
write("nocertsign", *leaf(["app.example.test"], bad_ca, bad_ca_key, NOW - DAY, NOW + 300 * DAY))

# 7. A chain to an expired root (openssl: 10 at the root).
old_root, old_root_key = ca("Expired Root", expired=True)
old_inter, old_inter_key = ca("Under Expired Root CA", old_root, old_root_key, path_len=0)
old_inter = (
    x509.CertificateBuilder()
    .subject_name(old_inter.subject)
    .issuer_name(old_root.subject)
    .public_key(old_inter_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(NOW - 30 * DAY)
    .not_valid_after(NOW + 365 * DAY)
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(
        x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
    )
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(old_inter_key.public_key()), False)
    .add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(old_root_key.public_key()), False
    )
    .sign(old_root_key, hashes.SHA256())
)
pem("oldroot.pem", old_root)
pem("underold-ca.pem", old_inter)
write("underold", *leaf(["app.example.test"], old_inter, old_inter_key, NOW - DAY, NOW + 300 * DAY))

# 8. A 1024-bit RSA leaf (openssl at auth level 2: 66, EE key too small).
weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
write("weak", *leaf(["app.example.test"], inter, inter_key, NOW - DAY, NOW + 300 * DAY, key=weak_key))
