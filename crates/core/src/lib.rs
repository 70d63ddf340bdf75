//! Pure domain of smsflow. No I/O, no async: everything here is a value, a
//! parser that turns untrusted input into a value that cannot be invalid, or a
//! rule evaluated over values. The outer layers (store, engine, server) only
//! ever handle the parsed types defined here.
#![forbid(unsafe_code)]

pub mod account;
pub mod clock;
pub mod consent;
pub mod encoding;
pub mod filter;
pub mod ids;
pub mod keywords;
pub mod limits;
pub mod message;
pub mod object;
pub mod phone;
pub mod template;
pub mod timezone;
pub mod workflow;

pub use clock::{Clock, ManualClock, SystemClock};
pub use phone::{PhoneError, E164};
