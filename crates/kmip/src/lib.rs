//! KMIP for certherd, without I/O: the TTLV codec and the few operations certherd needs.
#![forbid(unsafe_code)]
