//! Helpers shared by the integration tests: disk images built with the host's FAT tools
//! ([`images`]), the text on a text-mode screenshot ([`screen`]) and an initramfs for Debian's
//! Linux ([`linux_guest`]). Each test file includes this module with `mod common;` and uses only
//! part of it.

#![allow(dead_code)]

pub mod images;
pub mod linux_guest;
pub mod screen;
