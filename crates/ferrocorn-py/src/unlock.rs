//! Releasing the GIL while the server blocks on the network (DESIGN: never wait holding the GIL).

use ferrocorn_server::Unlocker;
use pyo3::Python;

/// Runs the server's blocking closures with the GIL released.
#[derive(Clone, Copy)]
pub struct Unlock<'py>(pub Python<'py>);

impl Unlocker for Unlock<'_> {
    fn unlocked(&self, f: &mut (dyn FnMut() + Send)) {
        self.0.detach(f)
    }
}
