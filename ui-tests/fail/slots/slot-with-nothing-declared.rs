use scope::slot;

// Nothing declared: the message shows the form.
slot!();

fn main() {}
