// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title civicproof anchor contract (PROOFS.md section 4)
/// @notice Each account appends batch roots to its own gapless hash chain:
///         anchor `seq` must be the account's next sequence number and must
///         name the root of anchor `seq - 1` (zero for seq 0) as `prevRoot`.
///         Nothing can be overwritten or skipped, by anyone. No owner, no
///         proxy, no delegatecall, no selfdestruct, nothing payable.
contract CivicproofAnchor {
    /// @notice Next sequence number expected from an anchorer (0 before its first anchor).
    mapping(address => uint64) public nextSeq;

    /// @notice Root anchored by `anchorer` at `seq` (zero if not anchored yet).
    mapping(address => mapping(uint64 => bytes32)) public rootOf;

    event Anchored(address indexed anchorer, uint64 indexed seq, bytes32 root, uint32 count, bytes32 prevRoot);

    /// @notice `seq` is not the caller's next sequence number (a skip, a replay or a second anchor of a seq).
    error WrongSeq(uint64 expected, uint64 given);
    /// @notice `root` is zero.
    error ZeroRoot();
    /// @notice `count` is zero.
    error ZeroCount();
    /// @notice `prevRoot` is not the caller's root at `seq - 1` (zero for seq 0).
    error WrongPrevRoot(bytes32 expected, bytes32 given);

    /// @notice Anchor `root` (a batch of `count` leaves) as the caller's entry `seq`.
    function anchor(uint64 seq, bytes32 root, uint32 count, bytes32 prevRoot) external {
        if (root == bytes32(0)) revert ZeroRoot();
        if (count == 0) revert ZeroCount();
        uint64 expected = nextSeq[msg.sender];
        if (seq != expected) revert WrongSeq(expected, seq);
        mapping(uint64 => bytes32) storage chain = rootOf[msg.sender];
        bytes32 prev;
        if (seq != 0) {
            unchecked {
                prev = chain[seq - 1];
            }
        }
        if (prevRoot != prev) revert WrongPrevRoot(prev, prevRoot);
        chain[seq] = root;
        // Checked: reverts rather than wrapping to 0 at type(uint64).max.
        nextSeq[msg.sender] = seq + 1;
        emit Anchored(msg.sender, seq, root, count, prevRoot);
    }
}
