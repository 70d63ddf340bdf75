//! Fake provider servers that speak the real wire formats.

pub mod aircall;
pub mod gateway;
pub mod hubspot;
pub mod smpp;
pub mod twilio;
pub mod vonage;
