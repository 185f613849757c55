use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
mod handlers;

fn main() {}
