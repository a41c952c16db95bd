import { present } from '@execution-ledger/test-support';
import {
  consistencyProof,
  emptyTreeRoot,
  hashLeaf,
  inclusionProof,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from 'execution-ledger/verify';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// The RFC 6962 test data used by the Certificate Transparency reference implementations
// (transparency-dev/merkle, proof/verify_test.go): eight leaves, the roots of every prefix,
// and known-good inclusion and consistency proofs.
const h = (hex: string) => Buffer.from(hex, 'hex');
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(h);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const INCLUSION = [
  { leaf: 1, size: 1, proof: [] },
  {
    leaf: 1,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    leaf: 6,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { leaf: 3, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    leaf: 2,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const CONSISTENCY = [
  { size1: 1, size2: 1, proof: [] },
  {
    size1: 1,
    size2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];
const leafHashes = LEAVES.map((leaf) => hashLeaf(leaf));
const SOME_HASH = h('abacaba000000000000000000000000000000000000000000060061e00123456');
const hex = (nodes: Buffer[]) => nodes.map((node) => node.toString('hex'));
const flipBit = (node: Buffer, mask: number) =>
  Buffer.from(node.map((byte, i) => (i === 0 ? byte ^ mask : byte)));

describe('RFC 6962 golden vectors', () => {
  it('the empty tree root is the SHA-256 of the empty string', () => {
    expect(merkleRoot([]).toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(emptyTreeRoot().equals(merkleRoot([]))).toBe(true);
  });

  it('a one-leaf tree has the leaf hash SHA-256(0x00 ‖ leaf) as its root', () => {
    expect(merkleRoot([hashLeaf(Buffer.alloc(0))]).toString('hex')).toBe(ROOTS[0]);
  });

  it('the roots of every prefix of the eight leaves match the reference roots', () => {
    expect(ROOTS.map((_, size) => merkleRoot(leafHashes.slice(0, size + 1)).toString('hex'))).toEqual(ROOTS);
  });

  it.each(INCLUSION)(
    'builds and accepts the reference inclusion proof of leaf $leaf in a tree of $size',
    (vector) => {
      const tree = leafHashes.slice(0, vector.size);
      expect(hex(inclusionProof(vector.leaf - 1, tree))).toEqual(vector.proof);
      const root = h(present(ROOTS[vector.size - 1]));
      expect(
        verifyInclusion(
          vector.leaf - 1,
          vector.size,
          present(leafHashes[vector.leaf - 1]),
          vector.proof.map(h),
          root,
        ),
      ).toEqual({ ok: true });
    },
  );

  it.each(CONSISTENCY)(
    'builds and accepts the reference consistency proof from $size1 to $size2',
    (vector) => {
      expect(hex(consistencyProof(vector.size1, leafHashes.slice(0, vector.size2)))).toEqual(vector.proof);
      const check = verifyConsistency(
        vector.size1,
        vector.size2,
        h(present(ROOTS[vector.size1 - 1])),
        h(present(ROOTS[vector.size2 - 1])),
        vector.proof.map(h),
      );
      expect(check).toEqual({ ok: true });
    },
  );
});

describe('RFC 6962 verifiers reject every corrupted proof', () => {
  it.each(INCLUSION.filter((vector) => vector.proof.length > 0))(
    'inclusion of leaf $leaf in $size: wrong index, size, leaf, root, extra, missing and flipped nodes',
    (vector) => {
      const index = vector.leaf - 1;
      const root = h(present(ROOTS[vector.size - 1]));
      const proof = vector.proof.map(h);
      const leaf = present(leafHashes[index]);
      const probes: [string, number, number, Buffer, Buffer[], Buffer][] = [
        ['index - 1', index - 1, vector.size, leaf, proof, root],
        ['index + 1', index + 1, vector.size, leaf, proof, root],
        ['index ^ 2', index ^ 2, vector.size, leaf, proof, root],
        ['size * 2', index, vector.size * 2, leaf, proof, root],
        ['size / 2', index, Math.floor(vector.size / 2), leaf, proof, root],
        ['wrong leaf', index, vector.size, hashLeaf(Buffer.from('WrongLeaf')), proof, root],
        ['empty root', index, vector.size, leaf, proof, emptyTreeRoot()],
        ['random root', index, vector.size, leaf, proof, SOME_HASH],
        ['trailing root', index, vector.size, leaf, [...proof, root], root],
        ['preceding root', index, vector.size, leaf, [root, ...proof], root],
        ['removed node', index, vector.size, leaf, proof.slice(0, -1), root],
        ['inserted node', index, vector.size, leaf, [present(proof[0]), SOME_HASH, ...proof.slice(1)], root],
        ...proof.map((_, i): [string, number, number, Buffer, Buffer[], Buffer] => [
          `flipped bit in node ${i}`,
          index,
          vector.size,
          leaf,
          proof.map((node, j) => (j === i ? flipBit(node, 8) : node)),
          root,
        ]),
      ];
      const accepted = probes.filter(([, i, size, l, p, r]) => verifyInclusion(i, size, l, p, r).ok);
      expect(accepted.map(([name]) => name)).toEqual([]);
    },
  );

  it.each(CONSISTENCY.filter((vector) => vector.proof.length > 0))(
    'consistency from $size1 to $size2: wrong sizes, roots, extra, missing and flipped nodes',
    (vector) => {
      const { size1, size2 } = vector;
      const root1 = h(present(ROOTS[size1 - 1]));
      const root2 = h(present(ROOTS[size2 - 1]));
      const proof = vector.proof.map(h);
      const probes: [string, number, number, Buffer, Buffer, Buffer[]][] = [
        ['size1 - 1', size1 - 1, size2, root1, root2, proof],
        ['size1 + 1', size1 + 1, size2, root1, root2, proof],
        ['size1 ^ 2', size1 ^ 2, size2, root1, root2, proof],
        ['size2 * 2', size1, size2 * 2, root1, root2, proof],
        ['size2 / 2', size1, Math.floor(size2 / 2), root1, root2, proof],
        ['wrong root1', size1, size2, SOME_HASH, root2, proof],
        ['wrong root2', size1, size2, root1, SOME_HASH, proof],
        ['swapped roots', size1, size2, root2, root1, proof],
        ['empty proof', size1, size2, root1, root2, []],
        ['trailing root1', size1, size2, root1, root2, [...proof, root1]],
        ['trailing root2', size1, size2, root1, root2, [...proof, root2]],
        ['preceding root1', size1, size2, root1, root2, [root1, ...proof]],
        ['preceding root2', size1, size2, root1, root2, [root2, ...proof]],
        ['preceding proof[0]', size1, size2, root1, root2, [present(proof[0]), ...proof]],
        ['truncated proof', size1, size2, root1, root2, proof.slice(0, -1)],
        ...proof.map((_, i): [string, number, number, Buffer, Buffer, Buffer[]] => [
          `flipped bit in node ${i}`,
          size1,
          size2,
          root1,
          root2,
          proof.map((node, j) => (j === i ? flipBit(node, 16) : node)),
        ]),
      ];
      const accepted = probes.filter(([, s1, s2, r1, r2, p]) => verifyConsistency(s1, s2, r1, r2, p).ok);
      expect(accepted.map(([name]) => name)).toEqual([]);
    },
  );

  it('rejects sizes going backwards, equal sizes with different roots and a non-empty trivial proof', () => {
    const root = h(present(ROOTS[0]));
    expect(verifyConsistency(2, 1, root, root, []).ok).toBe(false);
    expect(verifyConsistency(1, 1, root, SOME_HASH, []).ok).toBe(false);
    expect(verifyConsistency(1, 1, root, root, [emptyTreeRoot()]).ok).toBe(false);
    expect(verifyConsistency(0, 1, emptyTreeRoot(), root, [])).toEqual({ ok: true });
    expect(verifyInclusion(0, 0, root, [], root).ok).toBe(false);
    expect(verifyInclusion(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, root, [], root).ok).toBe(false);
  });
});

describe('proofs over random trees', () => {
  it('every inclusion and consistency proof verifies, and any flipped bit is rejected', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), fc.nat(), (size, a, b, bit) => {
        const leaves = Array.from({ length: size }, (_, i) => hashLeaf(Buffer.from(`leaf ${i}`)));
        const root = merkleRoot(leaves);
        const index = a % size;
        const path = inclusionProof(index, leaves);
        expect(verifyInclusion(index, size, present(leaves[index]), path, root).ok).toBe(true);
        const size1 = (b % size) + 1;
        const proof = consistencyProof(size1, leaves);
        expect(verifyConsistency(size1, size, merkleRoot(leaves.slice(0, size1)), root, proof).ok).toBe(true);
        if (path.length > 0) {
          const target = bit % path.length;
          const broken = path.map((node, i) => (i === target ? flipBit(node, 1 << (bit % 8)) : node));
          expect(verifyInclusion(index, size, present(leaves[index]), broken, root).ok).toBe(false);
        }
        if (proof.length > 0) {
          const target = bit % proof.length;
          const broken = proof.map((node, i) => (i === target ? flipBit(node, 1 << (bit % 8)) : node));
          expect(verifyConsistency(size1, size, merkleRoot(leaves.slice(0, size1)), root, broken).ok).toBe(
            false,
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
