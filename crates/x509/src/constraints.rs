//! Which name breaks which name constraint, for the message of a `name-constraints`
//! finding. The decision is the validators' (certval and rustls-webpki); this only finds
//! the facts to name: the certificate's name, the subtree it falls outside (or inside, when
//! excluded) and the CA whose nameConstraints say so. DNS names only, by RFC 5280 4.2.1.10's
//! rule for them (a subtree matches itself and every name below it).

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// A name of the end entity that a CA's name constraints forbid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstraintBreach {
    /// The name, as in the certificate (`www.other.test`).
    pub name: String,
    /// The constraint, in words: `permitted: DNS example.com` or `excluded: DNS bad.test`.
    pub constraint: String,
    /// The subject of the CA that carries the constraint.
    pub ca: String,
}

/// Whether the DNS name lies within the DNS subtree `base` (RFC 5280 4.2.1.10: any number
/// of labels may be added on the left; a leading '.' names the names below it only).
fn within(name: &str, base: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let base = base.trim_end_matches('.').to_ascii_lowercase();
    if base.is_empty() {
        return true;
    }
    if let Some(below) = base.strip_prefix('.') {
        return name.ends_with(&format!(".{below}"));
    }
    name == base || name.ends_with(&format!(".{base}"))
}

/// The first DNS name of `leaf` that a name constraint of a CA among `cas` forbids.
pub fn constraint_breach(leaf: &[u8], cas: &[&[u8]]) -> Option<ConstraintBreach> {
    let (_, leaf) = X509Certificate::from_der(leaf).ok()?;
    let names = crate::lint::san_dns_names(&leaf);
    for ca in cas {
        let Ok((_, ca)) = X509Certificate::from_der(ca) else {
            continue;
        };
        let Ok(Some(nc)) = ca.name_constraints() else {
            continue;
        };
        let dns = |subtrees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
            subtrees
                .iter()
                .flatten()
                .filter_map(|s| match s.base {
                    GeneralName::DNSName(d) => Some(d.to_owned()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let permitted = dns(&nc.value.permitted_subtrees);
        let excluded = dns(&nc.value.excluded_subtrees);
        for name in &names {
            if let Some(base) = excluded.iter().find(|b| within(name, b)) {
                return Some(ConstraintBreach {
                    name: (*name).to_owned(),
                    constraint: format!("excluded: DNS {base}"),
                    ca: ca.subject().to_string(),
                });
            }
            if !permitted.is_empty() && !permitted.iter().any(|b| within(name, b)) {
                return Some(ConstraintBreach {
                    name: (*name).to_owned(),
                    constraint: format!("permitted: DNS {}", permitted.join(", DNS ")),
                    ca: ca.subject().to_string(),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn a_subtree_holds_itself_and_what_is_below_it() {
        assert!(within("example.com", "example.com"));
        assert!(within("www.Example.com", "example.com"));
        assert!(!within("badexample.com", "example.com"));
        assert!(!within("example.com", ".example.com"));
        assert!(within("a.example.com", ".example.com"));
        assert!(within("anything.test", ""));
    }
}
