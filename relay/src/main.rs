//! gapmap-relay: the self-hostable sync relay (DESIGN §6).

mod tokens;

fn main() {
    println!("{}", tokens::new_secret());
}
