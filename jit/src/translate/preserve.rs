//! Slow-path helper calls that keep every register.
//!
//! The helpers are Rust `extern "C"` functions: a call to one clobbers every caller-saved
//! register. A block calls [`Helper::ReadMem`], [`Helper::WriteMem`] and [`Helper::Raise`] only
//! on cold paths (a TLB miss, a fault), and [`Helper::Condition`] and [`Helper::ArithFlags`]
//! mostly there too (lazy flags of kinds the block did not set itself and does not test for
//! first), but the register allocator must still keep every value
//! that lives across such a call in a callee-saved register or on the stack, so the hot path
//! reloaded the CPU pointer, the TLB set or a guest register from the stack around memory
//! accesses, and blocks saved and restored all five callee-saved registers. These helpers are
//! therefore called through a trampoline in Cranelift's `preserve_all` convention: the trampoline
//! saves what the Rust function may clobber, calls it, and restores, so for the block the call
//! clobbers nothing but its result register.
//!
//! The trampolines are compiled once per process, into code memory that is never freed (blocks
//! compiled on any thread call them by address).

use crate::code::CodeMemory;
use crate::helpers::Helper;
use crate::layout;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{
    types, AbiParam, Function, InstBuilder, MemFlagsData, Signature, Type, UserFuncName, Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use std::sync::OnceLock;

/// The helpers called through a trampoline.
pub(crate) const PRESERVED: [Helper; 5] =
    [Helper::ReadMem, Helper::WriteMem, Helper::Raise, Helper::Condition, Helper::ArithFlags];

/// Whether calls to `h` go through its trampoline.
pub(crate) fn preserved(h: Helper) -> bool {
    PRESERVED.contains(&h)
}

/// Parameter and result types of helper `h` (`ptr` the host pointer type).
pub(crate) fn helper_types(h: Helper, ptr: Type) -> (Vec<Type>, Type) {
    let (i32_, i64_) = (types::I32, types::I64);
    match h {
        Helper::ExecInsn => (vec![ptr, ptr, ptr, i32_], i32_),
        Helper::FetchExec => (vec![ptr, ptr], i32_),
        Helper::ReadMem => (vec![ptr, ptr, i32_, i32_], i64_),
        Helper::WriteMem => (vec![ptr, ptr, i32_, i32_, i32_], i32_),
        Helper::Condition => (vec![ptr, ptr, i32_], i32_),
        Helper::Raise => (vec![ptr, i32_, i32_], i32_),
        Helper::ArithFlags => (vec![ptr, ptr], i32_),
    }
}

/// A signature of `h`'s types in convention `cc`.
pub(crate) fn helper_signature(h: Helper, ptr: Type, cc: CallConv) -> Signature {
    let (params, ret) = helper_types(h, ptr);
    let mut sig = Signature::new(cc);
    sig.params.extend(params.into_iter().map(AbiParam::new));
    sig.returns.push(AbiParam::new(ret));
    sig
}

/// The trampolines' addresses, by position in [`PRESERVED`].
static TRAMPOLINES: OnceLock<Result<[usize; PRESERVED.len()], String>> = OnceLock::new();

/// Compiles the trampolines with `isa`, unless done already. [`crate::translate::Translator::new`]
/// calls this, so every translator that exists has them.
pub(crate) fn init(isa: &OwnedTargetIsa) -> Result<(), String> {
    TRAMPOLINES.get_or_init(|| build_all(isa)).as_ref().map(|_| ()).map_err(|e| e.clone())
}

/// The address a block calls for helper `h` (one of [`PRESERVED`]): its trampoline.
pub(crate) fn trampoline(h: Helper) -> usize {
    let n = PRESERVED.iter().position(|&x| x == h).expect("a helper with a trampoline");
    match TRAMPOLINES.get() {
        Some(Ok(t)) => t[n],
        _ => unreachable!("Translator::new built the trampolines"),
    }
}

fn build_all(isa: &OwnedTargetIsa) -> Result<[usize; PRESERVED.len()], String> {
    let mut ctx = Context::new();
    let mut fctx = FunctionBuilderContext::new();
    let mut code = Vec::new();
    for h in PRESERVED {
        ctx.clear();
        ctx.func = build(isa, &mut fctx, h);
        let c = ctx.compile(&**isa, &mut ControlPlane::default()).map_err(|e| format!("Cranelift: {:?}", e.inner))?;
        if !c.buffer.relocs().is_empty() {
            return Err("helper trampoline has relocations".into());
        }
        code.push(c.code_buffer().to_vec());
    }
    let size = code.iter().map(|c| c.len() + 64).sum();
    // Never freed: blocks anywhere in the process call these by address.
    let mem = Box::leak(Box::new(CodeMemory::new(size).map_err(|e| format!("code memory: {e}"))?));
    let mut out = [0; PRESERVED.len()];
    for (slot, c) in out.iter_mut().zip(&code) {
        *slot = mem.install(c).map_err(|e| format!("code memory: {e:?}"))? as usize;
    }
    Ok(out)
}

/// The argument of helper `h` that is its `*mut ExitCtx`, where its trampoline leaves the result.
fn ctx_arg(h: Helper) -> usize {
    match h {
        Helper::Raise => 0,
        _ => 1,
    }
}

/// `h`'s trampoline: the same parameters in `preserve_all`, calls the helper and stores its
/// result in `ExitCtx::helper_result`. (Cranelift's `preserve_all` restores every register it
/// saved, the result register included, so a result cannot be returned in one.)
fn build(isa: &OwnedTargetIsa, fctx: &mut FunctionBuilderContext, h: Helper) -> Function {
    let ptr = isa.pointer_type();
    let mut sig = helper_signature(h, ptr, CallConv::PreserveAll);
    sig.returns.clear();
    let mut func = Function::with_name_signature(UserFuncName::user(2, h as u32), sig);
    let mut b = FunctionBuilder::new(&mut func, fctx);
    let inner = b.import_signature(helper_signature(h, ptr, isa.default_call_conv()));
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let args = b.block_params(entry).to_vec();
    let f = b.ins().iconst(ptr, h.address() as i64);
    let call = b.ins().call_indirect(inner, f, &args);
    let r = b.inst_results(call)[0];
    b.ins().store(MemFlagsData::trusted(), r, args[ctx_arg(h)], layout::CTX_HELPER_RESULT);
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(isa.frontend_config());
    func
}

/// After a call to `h`'s trampoline in the block `b` builds: its result, from `ctx`.
pub(super) fn result(b: &mut FunctionBuilder, h: Helper, ptr: Type, ctx: Value) -> Value {
    let (_, ret) = helper_types(h, ptr);
    b.ins().load(ret, MemFlagsData::trusted(), ctx, layout::CTX_HELPER_RESULT)
}
