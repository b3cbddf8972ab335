//! Without the kernel relay (no `splice` feature, or not Linux): no
//! direction ever has one.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use super::{CopyError, Pump};

/// Never made: without the relay, the field that holds one is always `None`.
pub(super) struct Kernel<R: ?Sized, W: ?Sized> {
    never: Infallible,
    _ends: PhantomData<fn(&mut R, &mut W)>,
}

impl<R: ?Sized, W: ?Sized> Kernel<R, W> {
    pub(super) fn poll(
        &mut self,
        _: &mut Pump,
        _: &mut R,
        _: &mut W,
        _: &mut Context<'_>,
    ) -> Poll<Result<(), CopyError>> {
        match self.never {}
    }
}

impl<R: ?Sized, W: ?Sized> std::fmt::Debug for Kernel<R, W> {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.never {}
    }
}
