//! Turning C arguments into Rust references, with NULL as an error instead of a crash.

use std::ffi::{c_char, CStr};

use crate::error::{FfiError, TLSWIRE_ERROR_INVALID_ARGUMENT};

/// `&T` from a pointer that may be NULL.
///
/// # Safety
/// `p` must be NULL or point to a live `T` not mutated during `'a`.
pub(crate) unsafe fn this<'a, T>(p: *const T, name: &str) -> Result<&'a T, FfiError> {
    // SAFETY: forwarded from the caller; NULL becomes None.
    unsafe { p.as_ref() }.ok_or_else(|| FfiError::null(name))
}

/// `&mut T` from a pointer that may be NULL.
///
/// # Safety
/// `p` must be NULL or point to a live `T` not otherwise used during `'a`.
pub(crate) unsafe fn this_mut<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, FfiError> {
    // SAFETY: forwarded from the caller; NULL becomes None.
    unsafe { p.as_mut() }.ok_or_else(|| FfiError::null(name))
}

/// A checked, writable out-parameter (the memory behind it may be uninitialised: it is only
/// written, never read).
pub(crate) struct Out<T: Copy>(*mut T);

impl<T: Copy> Out<T> {
    pub(crate) fn set(&mut self, value: T) {
        // SAFETY: `out_ptr` checked for NULL, and its caller promised writable memory; `T: Copy`
        // so the old value needs no drop.
        unsafe { self.0.write(value) }
    }
}

/// A writable out-parameter.
///
/// # Safety
/// `p` must be NULL or point to writable memory for a `T` that stays valid while the returned
/// `Out` is used.
pub(crate) unsafe fn out_ptr<T: Copy>(p: *mut T, name: &str) -> Result<Out<T>, FfiError> {
    if p.is_null() {
        return Err(FfiError::null(name));
    }
    Ok(Out(p))
}

/// A UTF-8 string from a NUL-terminated C string.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if p.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| {
        FfiError::new(
            TLSWIRE_ERROR_INVALID_ARGUMENT,
            format!("argument `{name}` is not valid UTF-8"),
        )
    })
}

/// A byte slice from a pointer and a length; NULL is allowed when the length is 0.
///
/// # Safety
/// `p` must be NULL or point to `len` readable bytes that live for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-NULL and `len` readable bytes per the caller.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A writable byte slice from a pointer and a length; NULL is allowed when the length is 0.
///
/// # Safety
/// `p` must be NULL or point to `len` writable bytes not otherwise used during `'a`.
pub(crate) unsafe fn bytes_mut<'a>(
    p: *mut u8,
    len: usize,
    name: &str,
) -> Result<&'a mut [u8], FfiError> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-NULL and `len` writable bytes per the caller.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}
