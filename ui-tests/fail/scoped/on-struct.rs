use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
struct Handler;

fn main() {}
