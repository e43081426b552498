//! rune
