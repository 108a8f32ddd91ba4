//! GDAL's messages through `tracing` instead of GDAL's default handler, which prints
//! `ERROR 1: ...` lines straight to stderr before (and besides) our own one-line error.
//!
//! A GDAL failure reaches the user once, in the typed error built from it (the message is
//! kept per thread: [`last_error`]), so GDAL's own report of it is logged at `debug`;
//! warnings go to `info` and GDAL debug output (`CPL_DEBUG=ON`) to `trace`. Nothing shows at
//! the CLI's default level (`warn`); `RUST_LOG=gdal=debug` shows them all (target `gdal`).
//! [`install`] is called by [`crate::dataset::configure_gdal_defaults`] and the `mosaic`
//! binary.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};

use gdal_sys::{CPLErr, CPLErrorNum};

thread_local! {
    /// The last failure GDAL reported on this thread.
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    /// GDAL's error number (`CPLE_*`) of that failure.
    static LAST_CODE: std::cell::Cell<Option<CPLErrorNum>> = const { std::cell::Cell::new(None) };
}

/// Routes GDAL's messages (every thread) into `tracing`; idempotent.
pub fn install() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // SAFETY: `handler` is a plain function valid for the whole process; GDAL guards
        // the global handler itself. (The `gdal` crate's `set_error_handler` hands one
        // boxed `FnMut` to every thread at once, which this stateless function avoids.)
        unsafe {
            gdal_sys::CPLSetErrorHandler(Some(handler));
        }
    });
}

/// The message of the last failure GDAL reported on this thread, if any, for a typed
/// error built after a GDAL call fails. Unlike `CPLGetLastErrorMsg` it survives the
/// `CPLErrorReset` the `gdal` crate does when it builds its own error; call
/// [`clear_last_error`] before a call so an older failure is not reported for it.
pub fn last_error() -> Option<String> {
    LAST_ERROR.with(|l| l.borrow().clone())
}

/// GDAL's error number (`CPLE_*`) of the last failure on this thread, if any.
pub fn last_error_code() -> Option<CPLErrorNum> {
    LAST_CODE.with(std::cell::Cell::get)
}

/// Whether a dataset that failed to open with GDAL error `code` may open later: network and
/// I/O failures may; a missing, refused or unrecognised object (`CPLE_OpenFailed`, the
/// `CPLE_AWS*` not-found and access errors) may not.
pub fn retryable_open_failure(code: Option<CPLErrorNum>) -> bool {
    // CPLE_OpenFailed 4, CPLE_NotSupported 6, CPLE_AWSBucketNotFound 12,
    // CPLE_AWSObjectNotFound 13, CPLE_AWSAccessDenied 14, CPLE_AWSInvalidCredentials 15,
    // CPLE_AWSSignatureDoesNotMatch 16 (gdal_sys exports them as plain numbers).
    !matches!(code, Some(4 | 6 | 12..=16))
}

/// Forgets this thread's last GDAL failure.
pub fn clear_last_error() {
    LAST_ERROR.with(|l| l.borrow_mut().take());
    LAST_CODE.with(|c| c.set(None));
}

unsafe extern "C" fn handler(class: CPLErr::Type, code: CPLErrorNum, msg: *const c_char) {
    let text = if msg.is_null() {
        String::new()
    } else {
        // SAFETY: GDAL passes a NUL-terminated string valid for the duration of the call.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    };
    // No unwinding into C: a panicking subscriber must not abort the process.
    let _ = std::panic::catch_unwind(|| log(class, code, text));
}

fn log(class: CPLErr::Type, code: CPLErrorNum, text: String) {
    match class {
        CPLErr::CE_Failure | CPLErr::CE_Fatal => {
            if class == CPLErr::CE_Fatal {
                tracing::error!(target: "gdal", code, "{text}");
            } else {
                tracing::debug!(target: "gdal", code, "{text}");
            }
            LAST_ERROR.with(|l| {
                if let Ok(mut l) = l.try_borrow_mut() {
                    *l = Some(text);
                }
            });
            LAST_CODE.with(|c| c.set(Some(code)));
        }
        CPLErr::CE_Warning => tracing::info!(target: "gdal", code, "{text}"),
        _ => tracing::trace!(target: "gdal", code, "{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_kept_per_thread() {
        install();
        std::thread::spawn(|| {
            clear_last_error();
            assert_eq!(last_error(), None);
            let e = gdal::Dataset::open_ex(
                "/nonexistent/dir/x.tif",
                gdal::DatasetOptions {
                    open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER
                        | gdal::GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
                    ..Default::default()
                },
            )
            .unwrap_err();
            let last = last_error().expect("the failure is recorded");
            assert!(last.contains("x.tif"), "{last}");
            assert!(e.to_string().contains(&last), "{e}");
            // Another thread does not see it.
            std::thread::spawn(|| assert_eq!(last_error(), None))
                .join()
                .unwrap();
            clear_last_error();
            assert_eq!(last_error(), None);
        })
        .join()
        .unwrap();
    }
}
