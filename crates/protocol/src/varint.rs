//! TODO: filled by the foundation issue.
