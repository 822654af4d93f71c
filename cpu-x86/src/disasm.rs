//! Intel-syntax text for a decoded instruction, from the same table the decoder reads: what the
//! tracer prints and the debugger shows.

use crate::decode::{prefix, Arg, Insn, Mnemonic as M, NO_REG};
use crate::flags::Size;

const REG32: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const REG16: [&str; 8] = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const REG8: [&str; 8] = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const CC: [&str; 16] = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

/// Name of general register `n` at `size`.
pub fn reg_name(n: u8, size: Size) -> &'static str {
    match size {
        Size::B => REG8[n as usize],
        Size::W => REG16[n as usize],
        Size::D => REG32[n as usize],
    }
}

/// Formats `i`, located at `eip` (for branch targets), in Intel syntax.
pub fn format(i: &Insn, eip: u32) -> String {
    let mut out = String::new();
    if i.has(prefix::LOCK) {
        out.push_str("lock ");
    }
    let string = matches!(i.mnemonic, M::Movs | M::Cmps | M::Stos | M::Lods | M::Scas | M::Ins | M::Outs);
    if string && i.has(prefix::REP) {
        out.push_str(if matches!(i.mnemonic, M::Cmps | M::Scas) { "repe " } else { "rep " });
    } else if string && i.has(prefix::REPNE) {
        out.push_str("repne ");
    }
    out.push_str(&mnemonic(i));
    let next = eip.wrapping_add(i.len as u32);
    let args: Vec<String> =
        i.args.iter().filter(|a| !matches!(a, Arg::Nil)).filter(|_| !string).map(|a| operand(i, a, next)).collect();
    if !args.is_empty() {
        out.push(' ');
        out.push_str(&args.join(", "));
    }
    out
}

fn mnemonic(i: &Insn) -> String {
    let wide = i.osize == Size::D;
    let suffix = |s: Size| match s {
        Size::B => "b",
        Size::W => "w",
        Size::D => "d",
    };
    match i.mnemonic {
        M::Jcc => format!("j{}", CC[i.cc() as usize]),
        M::Setcc => format!("set{}", CC[i.cc() as usize]),
        M::Cmovcc => format!("cmov{}", CC[i.cc() as usize]),
        M::Cbw => (if wide { "cwde" } else { "cbw" }).into(),
        M::Cwd => (if wide { "cdq" } else { "cwd" }).into(),
        M::Pusha => (if wide { "pushad" } else { "pusha" }).into(),
        M::Popa => (if wide { "popad" } else { "popa" }).into(),
        M::Pushf => (if wide { "pushfd" } else { "pushf" }).into(),
        M::Popf => (if wide { "popfd" } else { "popf" }).into(),
        M::Iret => (if wide { "iretd" } else { "iret" }).into(),
        M::Jcxz => (if i.asize == Size::D { "jecxz" } else { "jcxz" }).into(),
        M::JmpFar => "jmp far".into(),
        M::CallFar => "call far".into(),
        M::RetFar => "retf".into(),
        M::MovCr | M::MovDr => "mov".into(),
        M::Fpu => format!("(x87 {:02x} /{})", i.opcode, i.reg()),
        M::Invalid => "(bad)".into(),
        M::Movs | M::Cmps | M::Stos | M::Lods | M::Scas | M::Ins | M::Outs => {
            let size = i.string_operand();
            format!("{}{}", i.mnemonic.name().to_lowercase(), suffix(size.unwrap_or(i.osize)))
        }
        m => m.name().to_lowercase(),
    }
}

fn operand(i: &Insn, a: &Arg, next: u32) -> String {
    match *a {
        Arg::Nil | Arg::StrSrc(_) | Arg::StrDst(_) => String::new(),
        Arg::Reg(n, size) => reg_name(n, size).into(),
        Arg::Mem(size) => {
            let ptr = match (i.mnemonic, size) {
                (M::Lea | M::Lgdt | M::Lidt | M::Sgdt | M::Sidt | M::Invlpg | M::Fpu, _) => "",
                (M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss | M::JmpFar | M::CallFar | M::Bound, _) => "far ",
                (_, Size::B) => "byte ",
                (_, Size::W) => "word ",
                (_, Size::D) => "dword ",
            };
            format!("{ptr}{}", address(i))
        }
        Arg::Imm(v) => format!("{v:#x}"),
        Arg::Rel(r) => {
            let t = next.wrapping_add(r) & i.osize.mask();
            format!("{t:#x}")
        }
        Arg::Far(sel, off) => format!("{sel:#x}:{off:#x}"),
        Arg::Seg(s) => s.name().into(),
        Arg::Cr(n) => format!("cr{n}"),
        Arg::Dr(n) => format!("dr{n}"),
    }
}

/// `seg:[base+index*scale+disp]`, showing the segment only when overridden.
fn address(i: &Insn) -> String {
    let m = &i.mem;
    let mut parts = Vec::new();
    if m.base != NO_REG {
        parts.push(reg_name(m.base, i.asize).to_string());
    }
    if m.index != NO_REG {
        let r = reg_name(m.index, i.asize);
        parts.push(if m.scale > 0 { format!("{r}*{}", 1 << m.scale) } else { r.to_string() });
    }
    let mut s = parts.join("+");
    let disp = m.disp & i.asize.mask();
    if parts.is_empty() {
        s = format!("{disp:#x}");
    } else if disp != 0 {
        let signed = i.asize.sext(disp) as i32;
        if signed < 0 {
            s += &format!("-{:#x}", signed.unsigned_abs());
        } else {
            s += &format!("+{signed:#x}");
        }
    }
    let seg = if i.has(prefix::SEG) { format!("{}:", i.seg.name()) } else { String::new() };
    format!("{seg}[{s}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dis(code32: bool, bytes: &[u8]) -> String {
        let i = crate::decode::decode(code32, |n| bytes.get(n).copied().ok_or(())).unwrap();
        format(&i, 0x100)
    }

    #[test]
    fn formats_like_intel_syntax() {
        assert_eq!(dis(false, &[0x00, 0x5f, 0x0e]), "add byte [bx+0xe], bl");
        assert_eq!(dis(false, &[0xb8, 0x34, 0x12]), "mov ax, 0x1234");
        assert_eq!(dis(true, &[0x8b, 0x44, 0x8e, 0xfc]), "mov eax, dword [esi+ecx*4-0x4]");
        assert_eq!(dis(false, &[0x75, 0xfe]), "jne 0x100");
        assert_eq!(dis(false, &[0xf3, 0xa5]), "rep movsw");
        assert_eq!(dis(false, &[0x26, 0x8a, 0x07]), "mov al, byte es:[bx]");
        assert_eq!(dis(true, &[0x0f, 0x22, 0xc0]), "mov cr0, eax");
        assert_eq!(dis(false, &[0xea, 0x00, 0x7c, 0x00, 0x00]), "jmp far 0x0:0x7c00");
    }
}
