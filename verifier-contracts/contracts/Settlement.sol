// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @title zkgrid verifier interface
/// @notice The ABI of every verifier zkgrid-evm generates (`Halo2Verifier`).
interface IZkgridVerifier {
    /// @notice Whether `proof` is a valid proof for the public `instances` (all instance columns
    /// concatenated). Generated verifiers return false, never revert, for a bad proof.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool);
}

/// @title zkgrid settlement: pay provers for verified model inferences
/// @notice A requester escrows ETH for a task: "prove model M (a verifier contract, pinned by
/// its code hash) on the input with commitment C before the deadline". The first valid proof
/// settles the task and credits the reward to the address bound into the proof's recipient
/// slot; the credited account withdraws it. An unsettled task's reward goes back to the
/// requester after the deadline.
/// @dev Instance layout (zkgrid-circuits `InstanceLayout`): the weights' Poseidon commitment
/// (only when the weights are private), the input values or their Poseidon commitment, then the
/// output, then the recipient slot (an address as a 160-bit integer). The task records where
/// its statement (the input, preceded by the weights commitment for private weights) and the
/// recipient slot sit; the verifier's verifying key fixes everything else. Because the recipient slot is a public instance, a proof copied from
/// the mempool pays its original prover, never the copier: `submit` requires the slot to hold
/// `msg.sender` (or the recipient the requester named), and changing the slot invalidates the
/// proof.
///
/// Payment is pull-based: `submit` and `reclaim` only credit; `withdraw` is the only function
/// that sends ETH. Every state-changing entry point follows checks-effects-interactions and
/// shares one transient-storage reentrancy lock.
contract Settlement {
    /// @notice Lifecycle of a task. `None` marks an id that was never posted.
    enum State {
        None,
        Open,
        Settled,
        Reclaimed
    }

    /// @notice A posted task (five storage slots).
    struct Task {
        /// Who posted (and may reclaim) the task.
        address requester;
        /// Last timestamp at which a proof may be submitted; reclaim is possible after it.
        uint64 deadline;
        /// Lifecycle state.
        State state;
        /// The verifier contract (`verifyProof(bytes,uint256[])`).
        address verifier;
        /// Position of the first input instance.
        uint32 inputOffset;
        /// Number of input instances (1 for a Poseidon-hashed input).
        uint32 inputLength;
        /// Position of the recipient slot.
        uint32 recipientIndex;
        /// The recipient the requester named, or zero: the submitter must then be the recipient.
        address recipient;
        /// Escrowed reward in wei.
        uint96 reward;
        /// Model commitment: the verifier's code hash when the task was posted.
        bytes32 modelCommitment;
        /// keccak256 of the input instances (32-byte big-endian words, concatenated).
        bytes32 inputDigest;
    }

    /// @notice The BN254 scalar field modulus: every public instance is below it.
    uint256 internal constant SNARK_SCALAR_FIELD =
        0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    /// @notice Tasks by id; ids start at 1.
    mapping(uint256 taskId => Task) public tasks;

    /// @notice Wei each account may withdraw (rewards of settled tasks, reclaimed escrows).
    mapping(address account => uint256 amount) public credit;

    /// @notice Number of tasks posted so far (the id of the latest task).
    uint256 public taskCount;

    /// @dev Reentrancy lock (EIP-1153 transient storage: cleared after every transaction).
    bool private transient locked;

    /// @notice A task was posted with `reward` wei in escrow.
    event TaskPosted(
        uint256 indexed taskId,
        address indexed requester,
        address indexed verifier,
        bytes32 modelCommitment,
        bytes32 inputDigest,
        address recipient,
        uint256 reward,
        uint64 deadline
    );

    /// @notice A valid proof settled the task; `recipient` was credited `reward` wei.
    event TaskSettled(uint256 indexed taskId, address indexed recipient, address indexed submitter, uint256 reward);

    /// @notice The requester took back the escrow of an unsettled task after its deadline.
    event TaskReclaimed(uint256 indexed taskId, address indexed requester, uint256 reward);

    /// @notice `account` withdrew `amount` wei of credit.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice A task needs a non-zero reward (and one that fits 96 bits).
    error InvalidReward(uint256 value);
    /// @notice The deadline must lie in the future when the task is posted.
    error DeadlineInPast(uint64 deadline, uint256 timestamp);
    /// @notice The verifier has no code, or its code hash is not the model commitment.
    error ModelMismatch(address verifier, bytes32 expected, bytes32 actual);
    /// @notice The input and recipient positions are empty, overflow or overlap, or an input
    /// value is not a field element.
    error InvalidLayout();
    /// @notice No task has this id.
    error UnknownTask(uint256 taskId);
    /// @notice The task was already settled or reclaimed.
    error TaskClosed(uint256 taskId, State state);
    /// @notice The deadline passed: proofs are no longer accepted.
    error DeadlinePassed(uint256 taskId, uint64 deadline);
    /// @notice The deadline has not passed yet: the escrow cannot be reclaimed.
    error DeadlineNotReached(uint256 taskId, uint64 deadline);
    /// @notice The submitted instances are too short for the task's layout.
    error InstancesTooShort(uint256 length, uint256 needed);
    /// @notice The submitted input instances are not the task's input.
    error InputMismatch(uint256 taskId, bytes32 expected, bytes32 actual);
    /// @notice The recipient slot does not name the submitter (or the task's named recipient).
    error RecipientMismatch(address expected, uint256 slot);
    /// @notice The verifier rejected the proof.
    error InvalidProof(uint256 taskId);
    /// @notice Only the requester may reclaim.
    error NotRequester(address caller, address requester);
    /// @notice The caller has no credit.
    error NothingToWithdraw(address account);
    /// @notice Sending ETH to the account failed (its credit is restored by the revert).
    error TransferFailed(address account, uint256 amount);
    /// @notice A state-changing function was re-entered.
    error Reentrancy();

    /// @dev One lock for submit, reclaim and withdraw.
    modifier nonReentrant() {
        if (locked) revert Reentrancy();
        locked = true;
        _;
        locked = false;
    }

    /// @notice Posts a task and escrows `msg.value` as its reward.
    /// @param verifier The generated verifier of the model.
    /// @param modelCommitment The verifier's expected code hash (`EXTCODEHASH`). Its runtime
    /// embeds the code hashes of its VK data contracts, so this pins the verifying key.
    /// @param input The input instances the proof must carry: the quantized input values, or
    /// the single Poseidon commitment of a hashed input.
    /// @param inputOffset Position of `input[0]` among the instances.
    /// @param recipientIndex Position of the recipient slot among the instances.
    /// @param recipient The only account that may be paid, or zero for "whoever submits a
    /// proof bound to their own address".
    /// @param deadline Last block timestamp at which a proof is accepted.
    /// @return taskId The new task's id.
    function postTask(
        address verifier,
        bytes32 modelCommitment,
        uint256[] calldata input,
        uint32 inputOffset,
        uint32 recipientIndex,
        address recipient,
        uint64 deadline
    ) external payable returns (uint256 taskId) {
        if (msg.value == 0 || msg.value > type(uint96).max) revert InvalidReward(msg.value);
        if (deadline <= block.timestamp) revert DeadlineInPast(deadline, block.timestamp);
        bytes32 codeHash = verifier.codehash;
        if (verifier.code.length == 0 || codeHash != modelCommitment) {
            revert ModelMismatch(verifier, modelCommitment, codeHash);
        }
        uint256 inputEnd = uint256(inputOffset) + input.length;
        if (
            input.length == 0 || input.length > type(uint32).max
                || (recipientIndex >= inputOffset && recipientIndex < inputEnd)
        ) revert InvalidLayout();
        for (uint256 i = 0; i < input.length; ++i) {
            if (input[i] >= SNARK_SCALAR_FIELD) revert InvalidLayout();
        }
        bytes32 inputDigest = keccak256(abi.encodePacked(input));

        taskId = ++taskCount;
        tasks[taskId] = Task({
            requester: msg.sender,
            deadline: deadline,
            state: State.Open,
            verifier: verifier,
            inputOffset: inputOffset,
            inputLength: uint32(input.length),
            recipientIndex: recipientIndex,
            recipient: recipient,
            reward: uint96(msg.value),
            modelCommitment: modelCommitment,
            inputDigest: inputDigest
        });
        emit TaskPosted(
            taskId, msg.sender, verifier, modelCommitment, inputDigest, recipient, msg.value, deadline
        );
    }

    /// @notice Settles task `taskId` with a proof and credits the reward to the recipient slot's
    /// address: `msg.sender`, or the recipient the task names. At most once per task.
    /// @param proof The proof bytes, as the verifier takes them.
    /// @param instances All public instances, in the verifier's order.
    function submit(uint256 taskId, bytes calldata proof, uint256[] calldata instances) external nonReentrant {
        Task storage task = tasks[taskId];
        State state = task.state;
        if (state == State.None) revert UnknownTask(taskId);
        if (state != State.Open) revert TaskClosed(taskId, state);
        uint64 deadline = task.deadline;
        if (block.timestamp > deadline) revert DeadlinePassed(taskId, deadline);
        address payee = _checkInstances(task, taskId, instances);

        address verifier = task.verifier;
        bytes32 codeHash = verifier.codehash;
        if (codeHash != task.modelCommitment) revert ModelMismatch(verifier, task.modelCommitment, codeHash);
        // A view call compiles to STATICCALL: the verifier cannot change any state.
        if (!IZkgridVerifier(verifier).verifyProof(proof, instances)) revert InvalidProof(taskId);

        task.state = State.Settled;
        uint256 reward = task.reward;
        credit[payee] += reward;
        emit TaskSettled(taskId, payee, msg.sender, reward);
    }

    /// @dev Checks the task's input and the recipient slot in `instances`; returns the payee.
    function _checkInstances(Task storage task, uint256 taskId, uint256[] calldata instances)
        private
        view
        returns (address payee)
    {
        uint256 inputStart = task.inputOffset;
        uint256 inputEnd = inputStart + task.inputLength;
        uint256 recipientIndex = task.recipientIndex;
        uint256 needed = inputEnd > recipientIndex ? inputEnd : recipientIndex + 1;
        if (instances.length < needed) revert InstancesTooShort(instances.length, needed);
        bytes32 inputDigest = keccak256(abi.encodePacked(instances[inputStart:inputEnd]));
        if (inputDigest != task.inputDigest) revert InputMismatch(taskId, task.inputDigest, inputDigest);

        payee = task.recipient == address(0) ? msg.sender : task.recipient;
        uint256 slot = instances[recipientIndex];
        if (slot != uint256(uint160(payee))) revert RecipientMismatch(payee, slot);
    }

    /// @notice Returns the escrow of an unsettled task to its requester's credit, after the
    /// deadline. Only the requester may call it, at most once.
    function reclaim(uint256 taskId) external nonReentrant {
        Task storage task = tasks[taskId];
        State state = task.state;
        if (state == State.None) revert UnknownTask(taskId);
        if (msg.sender != task.requester) revert NotRequester(msg.sender, task.requester);
        if (state != State.Open) revert TaskClosed(taskId, state);
        uint64 deadline = task.deadline;
        if (block.timestamp <= deadline) revert DeadlineNotReached(taskId, deadline);

        task.state = State.Reclaimed;
        uint256 reward = task.reward;
        credit[msg.sender] += reward;
        emit TaskReclaimed(taskId, msg.sender, reward);
    }

    /// @notice Sends the caller all of their credit.
    function withdraw() external nonReentrant {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credit[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool sent,) = payable(msg.sender).call{value: amount}("");
        if (!sent) revert TransferFailed(msg.sender, amount);
    }
}
