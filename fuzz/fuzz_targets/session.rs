//! Arbitrary bytes as a session file: parse and validate. Any error is fine; a panic is a
//! finding, and so is an accepted session that does not survive writing and reading back.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mixwright::session::Session;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Absolute base: relative sources become absolute, so a second parse changes nothing.
    let base = Path::new("/fuzz/session.json");
    let Ok(session) = Session::parse(text, base) else {
        return;
    };
    let written = serde_json::to_string_pretty(&session).expect("a valid session serialises");
    let again = Session::parse(&written, base).expect("a written session reads back");
    assert_eq!(again, session);
});
