//! `trust ...`.

use std::process::ExitCode;

use certherd_store::Home;

use crate::args::TrustCmd;
use crate::failure::read_input;
use crate::{open_node, Failure};

pub fn run(home: &Home, c: TrustCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        TrustCmd::Add { file } => {
            let bytes = read_input(&file)?;
            let added = node
                .trust_add_checked(&bytes)
                .map_err(|e| Failure::file(&file, e))?;
            crate::views::trust_added(&certherd_server::rows::trust_added(&added));
        }
        TrustCmd::List(a) => {
            let now = node.now();
            let rows: Vec<_> = node
                .trust_list()?
                .into_iter()
                .map(|m| certherd_server::rows::cert_row(&node.view(m, now)))
                .collect();
            crate::views::trust_list(&rows, a.output);
        }
        TrustCmd::Remove { fingerprint } => {
            let m = node.trust_remove(&fingerprint)?;
            crate::views::trust_removed(&certherd_server::rows::trust_row(&m));
        }
        TrustCmd::AddCrl { file } => {
            let bytes = read_input(&file)?;
            let info = node
                .trust_add_crl(&bytes)
                .map_err(|e| Failure::file(&file, e))?;
            crate::views::crl_added(&certherd_server::rows::crl_row(&info, node.now()));
        }
    }
    Ok(ExitCode::SUCCESS)
}
