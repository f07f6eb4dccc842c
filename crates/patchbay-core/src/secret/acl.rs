//! Windows: the equivalent of mode 0600/0700, a protected DACL with a single ACE that grants
//! the current user full access.
//!
//! "Protected" means nothing is inherited from the parent (the profile folder's ACEs for
//! Administrators, SYSTEM and the like are dropped), and the one ACE names the user of the
//! process token, so no other account is granted anything. On a directory the ACE is inherited
//! by everything created in it afterwards, so a file made there is private from its first byte.
//!
//! This is the only place the core calls the Win32 security API, hence the one module that
//! allows `unsafe`. Memory the API hands out (`LocalAlloc`) and the token handle are owned by
//! guards that free them on every path.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use windows::Win32::Foundation::{CloseHandle, HANDLE, HLOCAL, LocalFree, WIN32_ERROR};
use windows::Win32::Security::Authorization::{
    EXPLICIT_ACCESS_W, NO_MULTIPLE_TRUSTEE, SET_ACCESS, SetEntriesInAclW, TRUSTEE_IS_SID,
    TRUSTEE_IS_USER, TRUSTEE_W,
};
use windows::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetTokenInformation, InitializeSecurityDescriptor,
    NO_INHERITANCE, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SE_DACL_PROTECTED, SECURITY_DESCRIPTOR, SUB_CONTAINERS_AND_OBJECTS_INHERIT, SetFileSecurityW,
    SetSecurityDescriptorControl, SetSecurityDescriptorDacl, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows::Win32::Storage::FileSystem::FILE_ALL_ACCESS;
use windows::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
use windows::core::{PCWSTR, PWSTR};

/// Replace the DACL of `path` with one ACE granting the current user full access, protected
/// from inheritance; on a directory (`is_dir`) the ACE is inherited by new children.
///
/// SetFileSecurityW writes the descriptor as given. SetNamedSecurityInfoW would also redo the
/// inherited ACEs of a directory's existing children, but under wine it merges the parent's
/// inheritable ACEs into the new DACL whatever the protection asked for (wine never reports a
/// file's DACL as protected), which leaves the file as open as its parent; and the files that
/// matter here are made private one by one anyway.
pub(super) fn restrict_to_user(path: &Path, is_dir: bool) -> io::Result<()> {
    let user = CurrentUser::query()?;
    let acl = owner_only_acl(&user, is_dir)?;
    let mut descriptor = SECURITY_DESCRIPTOR::default();
    let sd = PSECURITY_DESCRIPTOR((&raw mut descriptor).cast());
    // SAFETY: `sd` points at `descriptor`, a SECURITY_DESCRIPTOR these calls fill in place (in
    // absolute form it points at `acl`, which outlives every use of `sd` below).
    unsafe {
        InitializeSecurityDescriptor(sd, SECURITY_DESCRIPTOR_REVISION)?;
        SetSecurityDescriptorDacl(sd, true, Some(acl.0), false)?;
        SetSecurityDescriptorControl(sd, SE_DACL_PROTECTED, SE_DACL_PROTECTED)?;
    }
    let name = wide(path);
    // SAFETY: `name` is a NUL-terminated UTF-16 path and `sd` the valid descriptor made
    // above; the call only reads them, and both outlive it.
    unsafe {
        SetFileSecurityW(
            PCWSTR(name.as_ptr()),
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            sd,
        )
    }
    .ok()?;
    Ok(())
}

/// `SECURITY_DESCRIPTOR_REVISION` (winnt.h), which the `windows` crate keeps in a module of
/// its own.
const SECURITY_DESCRIPTOR_REVISION: u32 = 1;

/// The DACL [`restrict_to_user`] sets: one `SET_ACCESS` entry for the user's SID.
fn owner_only_acl(user: &CurrentUser, is_dir: bool) -> io::Result<LocalBox<ACL>> {
    let entry = EXPLICIT_ACCESS_W {
        grfAccessPermissions: FILE_ALL_ACCESS.0,
        grfAccessMode: SET_ACCESS,
        grfInheritance: if is_dir {
            SUB_CONTAINERS_AND_OBJECTS_INHERIT
        } else {
            NO_INHERITANCE
        },
        Trustee: TRUSTEE_W {
            pMultipleTrustee: ptr::null_mut(),
            MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
            TrusteeForm: TRUSTEE_IS_SID,
            TrusteeType: TRUSTEE_IS_USER,
            // With TRUSTEE_IS_SID the name field carries the SID pointer.
            ptstrName: PWSTR(user.sid().0.cast()),
        },
    };
    let mut acl: *mut ACL = ptr::null_mut();
    // SAFETY: `entry` points at the SID inside `user`, alive for the call; there is no old
    // ACL; `acl` receives a LocalAlloc'd ACL (or stays null), owned by the guard below.
    let status = unsafe { SetEntriesInAclW(Some(&[entry]), None, &mut acl) };
    let acl = LocalBox(acl);
    win32(status)?;
    Ok(acl)
}

/// The `TOKEN_USER` of this process's token; its SID points into `buffer`.
struct CurrentUser {
    /// u64s keep the structure's pointer alignment.
    buffer: Vec<u64>,
}

impl CurrentUser {
    fn query() -> io::Result<Self> {
        let mut token = HANDLE::default();
        // SAFETY: GetCurrentProcess is a pseudo-handle that needs no closing; `token` is a
        // valid place for the new handle, which the guard below closes.
        unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) }?;
        let token = Handle(token);
        let mut len = 0u32;
        // SAFETY: a size query: no buffer, and `len` is a valid place for the size. It fails
        // with ERROR_INSUFFICIENT_BUFFER by design, so only `len` is looked at.
        let _ = unsafe { GetTokenInformation(token.0, TokenUser, None, 0, &mut len) };
        if len == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buffer = vec![0u64; (len as usize).div_ceil(size_of::<u64>())];
        // SAFETY: `buffer` is writable, 8-byte aligned and at least `len` bytes long.
        unsafe {
            GetTokenInformation(
                token.0,
                TokenUser,
                Some(buffer.as_mut_ptr().cast()),
                len,
                &mut len,
            )
        }?;
        Ok(Self { buffer })
    }

    fn sid(&self) -> PSID {
        // SAFETY: `buffer` holds the TOKEN_USER that GetTokenInformation wrote, suitably
        // aligned; reading its SID pointer (into the same buffer) is a plain copy.
        unsafe { (*self.buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid }
    }
}

/// A handle closed on drop.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by this module, is owned here and closed once.
        let _ = unsafe { CloseHandle(self.0) };
    }
}

/// Memory the system allocated with `LocalAlloc` for us, freed on drop.
struct LocalBox<T>(*mut T);

impl<T> Drop for LocalBox<T> {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API documented to LocalAlloc it for the
            // caller to free, is owned here and freed once.
            let _ = unsafe { LocalFree(Some(HLOCAL(self.0.cast()))) };
        }
    }
}

/// A path as a NUL-terminated UTF-16 string.
fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain([0]).collect()
}

fn win32(status: WIN32_ERROR) -> io::Result<()> {
    if status.is_ok() {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(status.0 as i32))
    }
}

/// Reading a DACL back, for the tests that check what [`restrict_to_user`] leaves behind.
#[cfg(test)]
pub(super) mod inspect {
    use windows::Win32::Foundation::FARPROC;
    use windows::Win32::Security::Authorization::{
        ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
    };
    use windows::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL_SIZE_INFORMATION, AclSizeInformation, GetAce,
        GetAclInformation, GetSecurityDescriptorControl,
    };
    use windows::Win32::Storage::FileSystem::FILE_READ_DATA;
    use windows::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    use windows::core::{s, w};

    use super::*;

    /// `ACCESS_ALLOWED_ACE_TYPE` (winnt.h), which the `windows` crate keeps in a module of its
    /// own.
    pub const ALLOWED: u8 = 0;
    /// `ACCESS_DENIED_ACE_TYPE` (winnt.h); it has the allowed ACE's layout.
    const DENIED: u8 = 1;
    /// The access mask of the one ACE.
    pub const FULL_ACCESS: u32 = FILE_ALL_ACCESS.0;
    /// The right to read a file's contents.
    pub const READ_DATA: u32 = FILE_READ_DATA.0;

    /// One ACE: its type, flags (`*_INHERIT_ACE`, `INHERITED_ACE`), mask and SID as a string
    /// (empty for types other than allowed and denied).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Ace {
        pub kind: u8,
        pub flags: u8,
        pub mask: u32,
        pub sid: String,
    }

    /// A DACL as read back: whether it is protected from inheritance, and its ACEs in order.
    #[derive(Debug)]
    pub struct Dacl {
        pub protected: bool,
        pub aces: Vec<Ace>,
    }

    /// The DACL of a file or directory, read with GetNamedSecurityInfoW.
    pub fn read(path: &Path) -> io::Result<Dacl> {
        let name = wide(path);
        let mut dacl: *mut ACL = ptr::null_mut();
        let mut descriptor = PSECURITY_DESCRIPTOR::default();
        // SAFETY: `name` is a NUL-terminated path alive for the call; `dacl` and `descriptor`
        // are valid places for the results. The descriptor is LocalAlloc'd for us (owned by
        // the guard below) and `dacl` points into it.
        let status = unsafe {
            GetNamedSecurityInfoW(
                PCWSTR(name.as_ptr()),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                None,
                None,
                Some(&mut dacl),
                None,
                &mut descriptor,
            )
        };
        let descriptor = LocalBox(descriptor.0);
        win32(status)?;
        let mut control = 0u16;
        let mut revision = 0u32;
        // SAFETY: `descriptor` is the valid descriptor just read; the out places are valid.
        unsafe {
            GetSecurityDescriptorControl(
                PSECURITY_DESCRIPTOR(descriptor.0),
                &mut control,
                &mut revision,
            )
        }?;
        if dacl.is_null() {
            return Err(io::Error::other("no DACL: everyone has full access"));
        }
        Ok(Dacl {
            protected: control & SE_DACL_PROTECTED.0 != 0,
            // SAFETY: `dacl` points into `descriptor`, which is alive until this returns.
            aces: unsafe { aces(dacl) }?,
        })
    }

    /// The ACEs of the DACL [`restrict_to_user`] would set.
    pub fn built(is_dir: bool) -> io::Result<Vec<Ace>> {
        let acl = owner_only_acl(&CurrentUser::query()?, is_dir)?;
        // SAFETY: `acl` is the valid ACL SetEntriesInAclW made, alive until this returns.
        unsafe { aces(acl.0) }
    }

    /// The current user's SID as a string (`S-1-5-21-...`).
    pub fn current_user() -> io::Result<String> {
        sid_string(CurrentUser::query()?.sid())
    }

    /// Whether this runs under wine, whose server keeps no ACL for a file: it maps the one set
    /// to unix mode bits and makes up a DACL from the mode when asked, always with an ACE for
    /// SYSTEM and never protected.
    pub fn under_wine() -> bool {
        // SAFETY: both calls take NUL-terminated literals; the module handle of ntdll (always
        // loaded) is not owned, so not freed.
        let found: Option<FARPROC> = unsafe {
            GetModuleHandleW(w!("ntdll.dll"))
                .ok()
                .map(|ntdll| GetProcAddress(ntdll, s!("wine_get_version")))
        };
        found.flatten().is_some()
    }

    /// # Safety
    /// `acl` must point at a valid ACL that outlives the call.
    unsafe fn aces(acl: *const ACL) -> io::Result<Vec<Ace>> {
        let mut info = ACL_SIZE_INFORMATION::default();
        // SAFETY: `acl` is valid (the caller's promise); `info` is a writable
        // ACL_SIZE_INFORMATION of the size given.
        unsafe {
            GetAclInformation(
                acl,
                (&raw mut info).cast(),
                size_of::<ACL_SIZE_INFORMATION>() as u32,
                AclSizeInformation,
            )
        }?;
        let mut aces = Vec::new();
        for index in 0..info.AceCount {
            let mut ace = ptr::null_mut();
            // SAFETY: `index` is below the ACE count of the valid `acl`; `ace` receives a
            // pointer into it.
            unsafe { GetAce(acl, index, &mut ace) }?;
            // SAFETY: every ACE starts with an ACE_HEADER.
            let header = unsafe { *ace.cast::<ACE_HEADER>() };
            let (mask, sid) = if header.AceType == ALLOWED || header.AceType == DENIED {
                let ace = ace.cast::<ACCESS_ALLOWED_ACE>();
                // SAFETY: allowed and denied ACEs have ACCESS_ALLOWED_ACE's layout, the SID
                // starting at `SidStart`, within the ACE.
                let (mask, sid) = unsafe { ((*ace).Mask, PSID((&raw mut (*ace).SidStart).cast())) };
                (mask, sid_string(sid)?)
            } else {
                (0, String::new())
            };
            aces.push(Ace {
                kind: header.AceType,
                flags: header.AceFlags,
                mask,
                sid,
            });
        }
        Ok(aces)
    }

    fn sid_string(sid: PSID) -> io::Result<String> {
        let mut text = PWSTR::null();
        // SAFETY: `sid` is a valid SID (of a live token buffer or ACL); `text` receives a
        // LocalAlloc'd string, owned by the guard below.
        let result = unsafe { ConvertSidToStringSidW(sid, &mut text) };
        let text = LocalBox(text.0);
        result?;
        // SAFETY: a NUL-terminated UTF-16 string, alive until `text` drops.
        unsafe { PWSTR(text.0).to_string() }.map_err(io::Error::other)
    }
}
