use std::future::Future;
use std::pin::Pin;

use scope::{Cx, Mode, Proof};

// A scope's mode and a list of slot keys are the crate's own: a type of the user's cannot be
// one, and the message says what to use instead.
enum MyMode {}

impl Mode for MyMode {
    type Task<'env> = dyn Future<Output = ()> + 'env;
    fn boxed_send<'env, F: Future<Output = ()> + Send + 'env>(f: F) -> Pin<Box<Self::Task<'env>>> {
        Box::pin(f)
    }
}

struct MyKeys;

impl Proof for MyKeys {
    fn bound_in(_: &Cx) -> bool {
        true
    }
}

fn main() {}
