//! Who is asking: the directory of schools, users and devices, and the lookup from a client
//! address (and perhaps a signed-in username) to a school, user, device and filtering group.
//!
//! This crate does no I/O. The configuration crate builds the directory from the config file;
//! front ends call [`Directory::resolve`] for every request.

pub mod cidr;
pub mod directory;

pub use cidr::{Cidr, CidrError};
pub use directory::{
    Device, Directory, Identity, IdentityError, Resolution, SchoolDirectory, User, UserKind,
};
