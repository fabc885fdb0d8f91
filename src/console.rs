//! Lines on stderr, each written whole.
//!
//! Under mpirun a rank's stderr is a pipe that mpirun copies to its own, next to what mpirun
//! itself prints (the banner of an `MPI_Abort`, for one). `eprintln!` writes a formatted line
//! piece by piece, one `write` per piece, so such a banner can land in the middle of our line:
//! CI once saw `bitorrent: ./in4.txt:3` and the rest of the message on either side of the abort
//! banner. A line formatted first and handed to one `write` reaches the pipe whole (a pipe
//! keeps writes of up to `PIPE_BUF`, 4 KiB on Linux, in one piece).

use std::fmt::Display;
use std::io::Write;

/// Writes `bitorrent: {message}` and a newline to stderr in one write.
pub fn say(message: impl Display) {
    line(format_args!("bitorrent: {message}"));
}

/// Writes `text` and a newline to stderr in one write.
pub fn line(text: impl Display) {
    let whole = format!("{text}\n");
    // Nothing sensible is left to do when stderr itself is gone.
    let _ = std::io::stderr().lock().write_all(whole.as_bytes());
}
