//! `covtop.toml`: schema, defaults and validation.
