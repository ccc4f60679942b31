//! A cursor over a method's nodes that matches instruction patterns, skipping labels, line
//! numbers and frames between instructions.

use std::borrow::Cow;

use super::super::body::{MethodBody, Node};
use crate::java::classfile::{ClassFile, Operand};

pub(crate) const ALOAD: u8 = 0x19;
pub(crate) const ILOAD: u8 = 0x15;
pub(crate) const ASTORE: u8 = 0x3A;
pub(crate) const RETURN: u8 = 0xB1;
pub(crate) const IRETURN: u8 = 0xAC;
pub(crate) const ARETURN: u8 = 0xB0;
pub(crate) const ATHROW: u8 = 0xBF;
pub(crate) const GOTO: u8 = 0xA7;
pub(crate) const IFEQ: u8 = 0x99;
pub(crate) const IFNE: u8 = 0x9A;
pub(crate) const IFNULL: u8 = 0xC6;
pub(crate) const IFNONNULL: u8 = 0xC7;
pub(crate) const IF_ACMPEQ: u8 = 0xA5;
pub(crate) const MONITOREXIT: u8 = 0xC3;
pub(crate) const INVOKEVIRTUAL: u8 = 0xB6;
pub(crate) const INVOKESPECIAL: u8 = 0xB7;
pub(crate) const INVOKESTATIC: u8 = 0xB8;
pub(crate) const INVOKEINTERFACE: u8 = 0xB9;
pub(crate) const INVOKEDYNAMIC: u8 = 0xBA;
pub(crate) const ICONST_M1: u8 = 0x02;
pub(crate) const LDC: u8 = 0x12;
pub(crate) const ISTORE: u8 = 0x36;
pub(crate) const TABLESWITCH: u8 = 0xAA;
pub(crate) const LOOKUPSWITCH: u8 = 0xAB;

/// The local variables a pattern has bound, by the pattern's name for them. Patterns bind a
/// handful, mostly under literal names: held inline (a map of owned names was an allocation or
/// two per pattern tried, on every method).
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    inline: [(Cow<'static, str>, u16); 8],
    len: usize,
    more: Vec<(Cow<'static, str>, u16)>,
}

impl Vars {
    pub fn get(&self, name: &str) -> Option<u16> {
        self.inline[..self.len]
            .iter()
            .chain(&self.more)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// Binds `name` to `var` (a later binding of the same name replaces it).
    pub fn insert(&mut self, name: Cow<'static, str>, var: u16) {
        if let Some(e) = self.inline[..self.len]
            .iter_mut()
            .chain(self.more.iter_mut())
            .find(|(n, _)| *n == name)
        {
            e.1 = var;
        } else if self.len < self.inline.len() {
            self.inline[self.len] = (name, var);
            self.len += 1;
        } else {
            self.more.push((name, var));
        }
    }
}

pub(crate) struct Matcher<'a, 'b> {
    pub body: &'b MethodBody<'a>,
    pub cf: &'b ClassFile,
    pub cursor: Option<usize>,
    pub vars: Vars,
}

impl<'a, 'b> Matcher<'a, 'b> {
    pub fn new(cf: &'b ClassFile, body: &'b MethodBody<'a>) -> Self {
        Matcher {
            body,
            cf,
            cursor: None,
            vars: Vars::default(),
        }
    }

    pub fn is_opcode_node(&self, node: usize) -> bool {
        matches!(self.body.nodes.get(node), Some(Node::Insn(_)))
    }

    /// First instruction node at or after `node`.
    pub fn skip_non_opcodes(&self, node: Option<usize>) -> Option<usize> {
        let mut n = node?;
        while n < self.body.nodes.len() {
            if self.is_opcode_node(n) {
                return Some(n);
            }
            n += 1;
        }
        None
    }

    pub fn opcode(&self) -> Option<u8> {
        self.body.opcode(self.cursor?)
    }

    pub fn operand(&self) -> Option<&'a Operand> {
        match self.body.nodes.get(self.cursor?)? {
            Node::Insn(i) => Some(self.body.operand(*i)),
            _ => None,
        }
    }

    pub fn next(&mut self) {
        if let Some(c) = self.cursor {
            self.cursor = self.skip_non_opcodes(Some(c + 1));
        }
    }

    pub fn first_is_aload0(&mut self) {
        self.cursor = self.skip_non_opcodes(Some(0));
        if self.opcode() == Some(ALOAD) && self.operand() == Some(&Operand::Var(0)) {
            return;
        }
        self.cursor = None;
    }

    pub fn next_is(&mut self, opcode: u8) {
        self.next();
        if self.cursor.is_some() && self.opcode() != Some(opcode) {
            self.cursor = None;
        }
    }

    pub fn next_is_switch(&mut self) {
        self.next();
        if self.cursor.is_some() && !matches!(self.opcode(), Some(TABLESWITCH | LOOKUPSWITCH)) {
            self.cursor = None;
        }
    }

    /// The next instruction is `opcode` on the variable the pattern calls `name` (bound here if
    /// it is not yet). Literal names cost nothing; built ones (`r3.t`) are passed as `String`s.
    pub fn next_is_var(&mut self, opcode: u8, name: impl Into<Cow<'static, str>>) {
        let name = name.into();
        self.next_is(opcode);
        if self.cursor.is_none() {
            return;
        }
        let Some(Operand::Var(v)) = self.operand() else {
            self.cursor = None;
            return;
        };
        match self.vars.get(&name) {
            None => self.vars.insert(name, *v),
            Some(e) if e == *v => {}
            Some(_) => self.cursor = None,
        }
    }

    /// (owner, name, descriptor) of the member instruction at the cursor.
    pub fn member(&self) -> Option<(&'b str, &'b str, &'b str)> {
        match self.operand()? {
            Operand::Member(i) => self.cf.member(*i),
            _ => None,
        }
    }

    pub fn next_is_invoke(&mut self, opcode: u8, owner: &str, name: &str, desc: &str) {
        self.next_is(opcode);
        if self.cursor.is_none() {
            return;
        }
        if self.member() != Some((owner, name, desc)) {
            self.cursor = None;
        }
    }

    /// Name of the invokedynamic at the cursor.
    pub fn indy_name(&self) -> Option<&'b str> {
        match self.operand()? {
            Operand::InvokeDynamic(i) => self.cf.dynamic(*i).map(|(n, _)| n),
            _ => None,
        }
    }
}
