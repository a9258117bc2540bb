//! Subcommands: each fills an options struct and calls one library function.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
