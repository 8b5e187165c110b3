//! The operations carried out by a server's admin API: each request goes as its endpoint's
//! call (see [`crate::wire`]) over a [`Transport`] the caller provides (TLS, the pinned
//! CA and the credential are the transport's), and the answer comes back as the same
//! [`Answer`] a home gives.

use certherd_protocol::ErrorBody;

use crate::request::{Answer, Request};
use crate::wire::{self, HttpCall};
use crate::{Error, Operations};

/// What carries one call to the admin API and brings its answer back.
pub trait Transport {
    /// Sends `call`; the answer's HTTP status and body, or why there is none.
    fn send(
        &self,
        call: &HttpCall,
    ) -> Result<(u16, Vec<u8>), Box<dyn std::error::Error + Send + Sync>>;
}

/// The operations over a server's admin API.
pub struct Remote<T: Transport> {
    transport: T,
}

impl<T: Transport> Remote<T> {
    /// Operations over `transport`.
    pub fn new(transport: T) -> Self {
        Self { transport }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

impl<T: Transport> Operations for Remote<T> {
    fn call(&mut self, request: Request) -> Result<Answer, Error> {
        let call = wire::encode(&request);
        let (status, body) = self.transport.send(&call).map_err(Error::Transport)?;
        let path = call.path.split('?').next().unwrap_or_default();
        let op = format!("{} {path}", call.method);
        if !(200..300).contains(&status) {
            let refusal: ErrorBody =
                certherd_protocol::decode(&body).map_err(|_| Error::Unexplained { op, status })?;
            return Err(Error::Refused {
                code: refusal.code,
                status,
                message: refusal.text().to_owned(),
                next: refusal.next,
                hint: refusal.hint,
            });
        }
        wire::decode_answer(&request, &body).map_err(|e| Error::AnswerShape {
            op,
            detail: e.to_string(),
        })
    }
}
