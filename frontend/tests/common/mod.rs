//! Helpers shared by the integration tests: pieces of our boot sectors ([`boot_sector`]), disk
//! images built with the host's FAT tools ([`images`]) and the text on a text-mode screenshot
//! ([`screen`]). (Debian's Linux as a guest, initramfs included, is `emu_test_roms::linux_guest`,
//! which `emu bench linux` uses too.) Each test file includes this module with `mod common;` and
//! uses only part of it.

#![allow(dead_code)]

pub mod boot_sector;
pub mod images;
pub mod screen;
