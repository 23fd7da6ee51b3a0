//! Finding a probe's maps by name, with a failure that names the map when the object
//! and the tracer disagree.

use aya::{
    Ebpf,
    maps::{Map, MapError},
};
use tracer_protocol::ErrorCode;

use crate::failure::Failure;

fn missing(name: &str) -> Failure {
    Failure::new(
        ErrorCode::Internal,
        format!("the probe object has no map {name}"),
        "the tracer binary is inconsistent; rebuild it",
    )
}

/// Borrows a map as `T`, for setting it up.
pub fn typed<'a, T>(ebpf: &'a mut aya::Ebpf, name: &str) -> Result<T, Failure>
where
    T: TryFrom<&'a mut Map, Error = MapError>,
{
    let map = ebpf.map_mut(name).ok_or_else(|| missing(name))?;
    T::try_from(map).map_err(|err| Failure::from_kernel(&format!("opening map {name}"), &err))
}

/// Takes a map out of the object as `T`, for reading it for the whole trace.
pub fn take<T>(ebpf: &mut Ebpf, name: &str) -> Result<T, Failure>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf.take_map(name).ok_or_else(|| missing(name))?;
    T::try_from(map).map_err(|err| Failure::from_kernel(&format!("opening map {name}"), &err))
}
