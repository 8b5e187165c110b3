#!/usr/bin/env python3
"""The comparison for the `scan` benchmark: only loads the certificates under the given
directories with `cryptography`, one x509.load_pem_x509_certificates call per file, and
prints how many it loaded. No judging, no storing: the floor a scanner is measured against."""
import os
import sys

from cryptography import x509

count = 0
for root in sys.argv[1:]:
    for d, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                count += len(x509.load_pem_x509_certificates(f.read()))
print(count)
