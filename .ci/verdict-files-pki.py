#!/usr/bin/env python3
"""Test PKI for .ci/verdict-files, made with `cryptography` (a tool certherd did not write):
one chain file per case of issue 20, judged by `certherd verify`, `openssl verify` and
GnuTLS's `certtool --verify`. Usage: verdict-files-pki.py OUT_DIR

Writes, in OUT_DIR: root.pem (the trusted root), root.crl (the root's CRL, listing the
revoked case's leaf), and for each case CASE.pem: the leaf first, then what is presented
with it (intermediates). `cases` lists one case a line: NAME TRUSTED_FILE
"""
import datetime
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


def ca(cn, issuer=None, issuer_key=None, path_len=None, bc_critical=True, key=None, permitted=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer.subject if issuer else name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 30 * DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=bc_critical)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if permitted:
        b = b.add_extension(
            x509.NameConstraints(permitted_subtrees=[x509.DNSName(permitted)], excluded_subtrees=None),
            critical=True,
        )
    if issuer:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    return b.sign(issuer_key or key, hashes.SHA256()), key


def leaf(issuer, issuer_key, san="www.example.test", cn=None, days=365, eku=(ExtendedKeyUsageOID.SERVER_AUTH,), hash_alg=None):
    key = ec.generate_private_key(ec.SECP256R1())
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn or san))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + days * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    return b.sign(issuer_key, hash_alg or hashes.SHA256())


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write(path, data):
    with open(os.path.join(OUT, path), "wb") as f:
        f.write(data)


root, root_key = ca("Verdict Files Root")
inter, inter_key = ca("Verdict Files Issuing CA", root, root_key)
write("root.pem", pem(root))
cases = []


def case(case_name, *chain, trusted="root.pem"):
    write(case_name + ".pem", pem(*chain))
    cases.append(f"{case_name} {trusted}")


case("good", leaf(inter, inter_key), inter)
case("expiring-3d", leaf(inter, inter_key, days=3), inter)
case("no-eku", leaf(inter, inter_key, eku=()), inter)
case("cn-not-in-san", leaf(inter, inter_key, cn="appliance.local"), inter)
nc_inter, nc_key = ca("Verdict Files Non-critical BC CA", root, root_key, bc_critical=False)
case("bc-not-critical", leaf(nc_inter, nc_key), nc_inter)
# Seven intermediates: openssl and GnuTLS accept it; rustls-webpki stops at its depth limit.
chain, issuer, issuer_key = [], root, root_key
for i in range(7):
    c, k = ca(f"Verdict Files Deep CA {i + 1}", issuer, issuer_key)
    chain.insert(0, c)
    issuer, issuer_key = c, k
case("deep-7", leaf(issuer, issuer_key), *chain)
# A SHA-1 leaf: current `cryptography` refuses to sign with SHA-1, so `openssl x509 -req`
# signs a request for it with the issuing CA's key.
def sha1_leaf():
    import subprocess
    import tempfile

    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("www.example.test")).sign(key, hashes.SHA256())
    with tempfile.TemporaryDirectory() as d:
        p = lambda f: os.path.join(d, f)
        with open(p("ca.key"), "wb") as f:
            f.write(inter_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        with open(p("ca.pem"), "wb") as f:
            f.write(pem(inter))
        with open(p("req.pem"), "wb") as f:
            f.write(csr.public_bytes(serialization.Encoding.PEM))
        with open(p("ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:www.example.test\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        r = subprocess.run(
            ["openssl", "x509", "-req", "-in", p("req.pem"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
             "-CAcreateserial", "-days", "90", "-sha1", "-extfile", p("ext"), "-out", p("out.pem")],
            capture_output=True,
        )
        if r.returncode != 0:
            sys.exit(f"verdict-files-pki: openssl x509 -req -sha1 failed: {r.stderr.decode()}")
        with open(p("out.pem"), "rb") as f:
            return x509.load_pem_x509_certificate(f.read())


case("sha1-leaf", sha1_leaf(), inter)
weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
weak, weak_k = ca("Verdict Files RSA-1024 CA", root, root_key, key=weak_key)
case("rsa1024-intermediate", leaf(weak, weak_k), weak)
# pathLenConstraint 0 on an intermediate that issues another CA, which issues the leaf.
pl0, pl0_key = ca("Verdict Files PathLen0 CA", root, root_key, path_len=0)
sub, sub_key = ca("Verdict Files Sub CA", pl0, pl0_key)
case("path-length", leaf(sub, sub_key), sub, pl0)
ncons, ncons_key = ca("Verdict Files Constrained CA", root, root_key, permitted="example.com")
case("name-constraints", leaf(ncons, ncons_key, san="www.other.test"), ncons)
case("client-only-eku", leaf(inter, inter_key, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)), inter)
# A chain whose intermediate is sent but whose root is not trusted.
other_root, other_key = ca("Verdict Files Other Root")
other_inter, other_ikey = ca("Verdict Files Other Issuing CA", other_root, other_key)
case("untrusted-root", leaf(other_inter, other_ikey), other_inter)
# Revoked by the root's CRL: a leaf directly under the root, listed in root.crl.
revoked = leaf(root, root_key, san="revoked.example.test")
case("revoked", revoked)
crl = (
    x509.CertificateRevocationListBuilder()
    .issuer_name(root.subject)
    .last_update(NOW - DAY)
    .next_update(NOW + 30 * DAY)
    .add_revoked_certificate(
        x509.RevokedCertificateBuilder()
        .serial_number(revoked.serial_number)
        .revocation_date(NOW - DAY)
        .build()
    )
    .add_extension(x509.CRLNumber(1), False)
    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False)
    .sign(root_key, hashes.SHA256())
)
write("root.crl", crl.public_bytes(serialization.Encoding.PEM))
write("cases", ("\n".join(cases) + "\n").encode())
